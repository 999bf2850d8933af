"""The tc source-NAT program (nat.c), tested without a kernel: read these tests as its documentation.

Run them with ``python -m pytest examples/tc_nat``; each runs on the
interpreter and on the JIT (``[interp]``/``[jit]`` in the test ids).

The expected packets are built by ``ebpflite.packets``, which computes every
checksum itself, so ``assert_packet`` shows any checksum the program's
incremental updates got wrong as a field difference. ``assert_action``
speaks tc (``"TC_ACT_OK"``, or just ``"OK"``), ``assert_skb`` checks the
``__sk_buff`` fields the kernel hands back (the mark).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess

import pytest

import ebpflite
from ebpflite.packets import ICMP, TCP, UDP, Ether, IPv4, IPv6, checksum_errors, decode
from ebpflite.testing import assert_action, assert_packet, assert_skb

PRIVATE, PUBLIC, SERVER = "10.0.0.5", "203.0.113.5", "198.51.100.20"
NAT_MARK = 0x4E4154
STAT_TRANSLATED, STAT_PASSED, STAT_EXPIRED, STAT_NOT_IPV4 = range(4)


def addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


@pytest.fixture
def nat(ebpf_load):
    obj = ebpf_load("nat.c")
    obj.maps["snat"][addr(PRIVATE)] = addr(PUBLIC)  # what the control plane configures
    return obj


def run(nat, frame):
    return nat.programs["snat_egress"].run(packet=frame)


def counted(nat, what: int) -> int:
    """Packets counted under ``what``, summed over the CPUs of the per-CPU array."""
    return sum(int(v) for v in nat.maps["stats"][what])


def outbound(l4, **ip):
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:fe") / IPv4(src=PRIVATE, dst=SERVER, **ip) / l4


@pytest.mark.parametrize("l4", [TCP(sport=40000, dport=443, flags="S") / b"hello",
                                UDP(sport=5353, dport=53) / b"query",
                                ICMP(type=8, id=7, seq=1) / b"ping"],
                         ids=["tcp", "udp", "icmp"])
def test_private_sources_leave_with_the_public_address_and_valid_checksums(nat, l4):
    res = run(nat, outbound(l4, ttl=64))
    assert_action(res, "TC_ACT_OK")
    assert_packet(res, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:fe")
                  / IPv4(src=PUBLIC, dst=SERVER, ttl=63) / l4)
    assert not checksum_errors(res.packet)
    assert_skb(res, mark=NAT_MARK)
    assert counted(nat, STAT_TRANSLATED) == 1


def test_a_udp_packet_without_checksum_keeps_none(nat):
    """Over IPv4 a UDP checksum of 0 means "no checksum": BPF_F_MARK_MANGLED_0 leaves it alone."""
    res = run(nat, outbound(UDP(sport=1, dport=2, chksum=0) / b"x", ttl=9))
    assert decode(res.packet)[UDP].chksum == 0
    assert str(decode(res.packet)[IPv4].src) == PUBLIC and not checksum_errors(res.packet)


def test_a_later_fragment_has_only_its_ip_header_changed(nat):
    frame = outbound(b"\x11" * 24, ttl=30, proto=17, frag=3)  # offset 24 bytes: no UDP header here
    res = run(nat, frame)
    out = decode(res.packet)
    assert str(out[IPv4].src) == PUBLIC and out[IPv4].ttl == 29 and not checksum_errors(res.packet)
    assert res.packet[34:] == bytes(frame)[34:]


def test_other_sources_and_other_protocols_go_on_untouched(nat):
    for frame in (Ether() / IPv4(src="10.0.0.6", dst=SERVER) / TCP(),
                  Ether() / IPv6(src="2001:db8::5", dst="2001:db8::20") / UDP(),
                  Ether(type=0x0806) / bytes(28)):
        res = run(nat, frame)
        assert_action(res, "OK")
        assert res.packet == bytes(frame)
        assert_skb(res, mark=0)
    assert counted(nat, STAT_PASSED) == 1 and counted(nat, STAT_NOT_IPV4) == 2


def test_packets_whose_ttl_would_expire_are_dropped(nat):
    res = run(nat, outbound(TCP(), ttl=1))
    assert_action(res, "TC_ACT_SHOT")
    assert counted(nat, STAT_EXPIRED) == 1


def test_a_whole_capture(nat):
    """The bundled capture through the same replay as ``ebpflite tc``: TTL-1 packets are dropped,
    every translated one is checksum-clean."""
    from ebpflite.helpers.pcap import read_packets

    capture = read_packets(os.path.join(os.path.dirname(__file__), "..", "data", "sample.pcap"))
    nat.maps["snat"][addr("10.0.1.5")] = addr(PUBLIC)
    replay = nat.programs["snat_egress"].replay(capture)
    assert replay.counts["TC_ACT_OK"] + replay.counts["TC_ACT_SHOT"] == len(capture)
    ttl1 = sum(1 for p in capture if p.data[12:14] == b"\x08\x00" and p.data[22] == 1)
    assert replay.counts["TC_ACT_SHOT"] == ttl1 > 0
    translated = [p for p in replay.kept if p.data[26:30] == addr(PUBLIC)]
    assert translated and all(not checksum_errors(p.data) for p in translated)


# --- the real kernel (optional) ---------------------------------------------------------------


def _kernel_missing() -> str | None:
    for tool in ("bpftool", "unshare"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if os.geteuid() != 0:
        return "loading into the kernel needs root"
    return None


@pytest.mark.kernel
@pytest.mark.ebpf_engines("interp")
def test_the_kernel_agrees(ebpf_engine, ebpf_compile, tmp_path):
    """Load nat.o with bpftool in a private bpffs, configure the same translation, run the same
    packets with BPF_PROG_TEST_RUN: return values and output packets must be identical."""
    missing = _kernel_missing()
    if missing:
        pytest.skip(f"kernel test: {missing}")
    obj_path = ebpf_compile("nat.c")
    packets = [bytes(outbound(TCP(sport=1, dport=2) / b"abc", ttl=64)), bytes(outbound(UDP(chksum=0), ttl=5)),
               bytes(outbound(ICMP(), ttl=1)), bytes(Ether() / IPv4(src="10.9.9.9") / UDP())]
    for i, data in enumerate(packets):
        (tmp_path / f"in{i}").write_bytes(data)
    pin = "/sys/fs/bpf/ebpflite_example_nat"
    key, value = (" ".join(str(b) for b in addr(a)) for a in (PRIVATE, PUBLIC))
    script = "\n".join([
        "set -e", "mount -t bpf bpf /sys/fs/bpf", f"mkdir -p {pin}",
        f"bpftool prog load {obj_path} {pin}/prog pinmaps {pin}/maps",
        f"bpftool map update pinned {pin}/maps/snat key {key} value {value}",
        *(f"bpftool -j prog run pinned {pin}/prog data_in {tmp_path}/in{i} data_out {tmp_path}/out{i}"
          for i in range(len(packets))),
        f"rm -rf {pin}",
    ])
    proc = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and ("Operation not permitted" in proc.stderr or "mount" in proc.stderr):
        pytest.skip(f"the kernel refuses BPF here: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 0, proc.stderr
    kernel = [json.loads(line)["retval"] for line in proc.stdout.splitlines() if line.startswith("{")]
    obj = ebpflite.load(obj_path, engine=ebpf_engine)
    obj.maps["snat"][addr(PRIVATE)] = addr(PUBLIC)
    ours = [obj.programs["snat_egress"].run(packet=p) for p in packets]
    assert kernel == [r.return_value for r in ours] == [0, 0, 2, 0]
    for i, res in enumerate(ours):
        assert res.packet == (tmp_path / f"out{i}").read_bytes(), f"packet {i}"
