"""The XDP firewall (firewall.c), tested without a kernel: read these tests as its documentation.

Run them with ``python -m pytest examples/xdp_firewall``. Every test that
takes ``fw`` (through the plugin's ``ebpf_load`` fixture) runs twice, once
per engine: ``test_x[interp]`` and ``test_x[jit]``. ``firewall.c`` is
compiled once and cached.

The firewall is configured through its maps, exactly as a control plane
would do with bpftool or libbpf:

- ``blocklist_v4`` / ``blocklist_v6`` (LPM tries): key ``{u32 prefixlen; u8 addr[]}``,
  value ``u64`` = packets this entry dropped;
- ``port_policy`` (hash): key ``{u8 protocol; u8 pad; u16 port}``, value an XDP action;
- ``action_stats`` / ``port_stats`` (per-CPU arrays of ``{u64 packets; u64 bytes}``):
  what the firewall did, per action and per destination port below 1024.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import ebpflite
from ebpflite.helpers.pcap import read_packets
from ebpflite.packets import (
    ARP,
    TCP,
    UDP,
    Dot1AD,
    Dot1Q,
    Ether,
    IPv4,
    IPv6,
    IPv6DestOpts,
    IPv6Fragment,
    IPv6HopByHop,
    decode,
)
from ebpflite.testing import assert_action, assert_map_unchanged, assert_packet

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "data" / "sample.pcap"
XDP_DROP, XDP_PASS = 1, 2
IPPROTO_TCP, IPPROTO_UDP = 6, 17


# --- helpers that spell the firewall's map keys ------------------------------------------


def prefix_key(cidr: str) -> bytes:
    """An LPM trie key, ``{u32 prefixlen; u8 addr[4 or 16]}``, for ``"10.0.1.0/24"`` or an IPv6 prefix."""
    net = ipaddress.ip_network(cidr)
    return struct.pack("<I", net.prefixlen) + net.network_address.packed


def port_key(protocol: int, port: int) -> bytes:
    """A ``port_policy`` key: ``{u8 protocol; u8 pad; u16 port (host order)}``."""
    return struct.pack("<BBH", protocol, 0, port)


def totals(per_cpu: list) -> tuple[int, int]:
    """(packets, bytes) summed over the CPUs of a per-CPU ``datarec``."""
    return sum(int(v["packets"]) for v in per_cpu), sum(int(v["bytes"]) for v in per_cpu)


@pytest.fixture
def fw(ebpf_load):
    """The firewall, freshly loaded (empty maps) on this test's engine."""
    return ebpf_load("firewall.c")


def run(fw, frame):
    return fw.programs["xdp_firewall"].run(frame)


# --- passing, counting -------------------------------------------------------------------


def test_passes_traffic_no_rule_matches_and_counts_it(fw):
    frame = Ether() / IPv4(src="192.0.2.1", dst="198.51.100.7") / UDP(dport=53) / b"query"

    res = run(fw, frame)

    assert_action(res, "XDP_PASS")
    assert_packet(res, frame)  # the firewall never rewrites packets
    assert totals(fw.maps["action_stats"][XDP_PASS]) == (1, len(bytes(frame)))
    assert totals(fw.maps["action_stats"][XDP_DROP]) == (0, 0)
    assert totals(fw.maps["port_stats"][53]) == (1, len(bytes(frame)))


def test_non_ip_frames_pass_untouched(fw):
    res = run(fw, Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="10.0.0.1", pdst="10.0.0.2"))

    assert_action(res, "PASS")
    assert_map_unchanged(res, ["blocklist_v4", "blocklist_v6", "port_policy"])


# --- source block lists (LPM tries) --------------------------------------------------------


def test_blocked_ipv4_prefix_is_dropped_and_the_entry_counts_it(fw):
    fw.maps["blocklist_v4"][prefix_key("10.0.1.0/24")] = 0

    assert_action(run(fw, Ether() / IPv4(src="10.0.1.7") / TCP(dport=443)), "XDP_DROP")
    assert_action(run(fw, Ether() / IPv4(src="10.0.1.200") / UDP()), "XDP_DROP")
    assert_action(run(fw, Ether() / IPv4(src="10.0.2.7") / TCP(dport=443)), "XDP_PASS")

    assert fw.maps["blocklist_v4"][prefix_key("10.0.1.0/24")] == 2
    assert totals(fw.maps["action_stats"][XDP_DROP])[0] == 2
    assert totals(fw.maps["action_stats"][XDP_PASS])[0] == 1


def test_the_longest_matching_prefix_takes_the_hit(fw):
    block = fw.maps["blocklist_v4"]
    block[prefix_key("10.0.0.0/8")] = 0
    block[prefix_key("10.9.9.0/24")] = 0

    run(fw, Ether() / IPv4(src="10.9.9.9") / UDP())
    run(fw, Ether() / IPv4(src="10.1.2.3") / UDP())
    run(fw, Ether() / IPv4(src="10.9.9.10") / UDP())

    assert block[prefix_key("10.9.9.0/24")] == 2
    assert block[prefix_key("10.0.0.0/8")] == 1


def test_blocked_ipv6_prefix_is_dropped_even_behind_extension_headers(fw):
    fw.maps["blocklist_v6"][prefix_key("2001:db8:1::/48")] = 0

    plain = Ether() / IPv6(src="2001:db8:1::5") / TCP(dport=80)
    with_ext = Ether() / IPv6(src="2001:db8:1:ffff::1") / IPv6HopByHop() / IPv6DestOpts() / UDP()
    outside = Ether() / IPv6(src="2001:db8:2::5") / TCP(dport=80)

    assert_action(run(fw, plain), "XDP_DROP")
    assert_action(run(fw, with_ext), "XDP_DROP")
    assert_action(run(fw, outside), "XDP_PASS")
    assert fw.maps["blocklist_v6"][prefix_key("2001:db8:1::/48")] == 2


@pytest.mark.parametrize("tags", [(), (Dot1Q(vid=10),), (Dot1AD(vid=100), Dot1Q(vid=20))],
                         ids=["untagged", "802.1Q", "QinQ"])
def test_vlan_tagged_frames_are_filtered_like_untagged_ones(fw, tags):
    fw.maps["blocklist_v4"][prefix_key("203.0.113.0/24")] = 0
    frame = Ether()
    for tag in tags:
        frame = frame / tag

    assert_action(run(fw, frame / IPv4(src="203.0.113.9") / UDP()), "XDP_DROP")
    assert_action(run(fw, frame / IPv4(src="198.51.100.9") / UDP()), "XDP_PASS")


# --- per-port policy -------------------------------------------------------------------------


def test_port_policy_drops_by_protocol_and_destination_port(fw):
    fw.maps["port_policy"][port_key(IPPROTO_TCP, 22)] = XDP_DROP

    assert_action(run(fw, Ether() / IPv4() / TCP(dport=22)), "XDP_DROP")
    assert_action(run(fw, Ether() / IPv4() / UDP(dport=22)), "XDP_PASS")  # TCP only
    assert_action(run(fw, Ether() / IPv6() / TCP(dport=22)), "XDP_DROP")  # both IP versions
    assert_action(run(fw, Ether() / IPv6() / IPv6HopByHop() / IPv6Fragment() / TCP(dport=22)), "XDP_DROP")
    assert totals(fw.maps["port_stats"][22])[0] == 4


def test_a_pass_rule_is_an_explicit_allow(fw):
    fw.maps["port_policy"][port_key(IPPROTO_UDP, 53)] = XDP_PASS
    fw.maps["port_policy"][port_key(IPPROTO_UDP, 123)] = 7  # not an action the firewall applies

    assert_action(run(fw, Ether() / IPv4() / UDP(dport=53)), "XDP_PASS")
    assert_action(run(fw, Ether() / IPv4() / UDP(dport=123)), "XDP_PASS")


def test_ipv4_options_are_skipped_to_find_the_port(fw):
    fw.maps["port_policy"][port_key(IPPROTO_TCP, 22)] = XDP_DROP
    frame = Ether() / IPv4(options=b"\x94\x04\x00\x00" + b"\x01" * 8) / TCP(dport=22)  # router alert, NOPs

    assert_action(run(fw, frame), "XDP_DROP")


def test_later_ipv4_fragments_have_no_ports_to_match(fw):
    fw.maps["port_policy"][port_key(IPPROTO_TCP, 22)] = XDP_DROP
    # bytes that would read as TCP port 22 if the firewall wrongly parsed a later fragment
    looks_like_port_22 = struct.pack("!HH", 1234, 22) + bytes(16)
    frame = Ether() / IPv4(proto=IPPROTO_TCP, flags=0, frag=100) / looks_like_port_22

    res = run(fw, frame)

    assert_action(res, "XDP_PASS")
    assert totals(fw.maps["port_stats"][0])[0] == 1  # counted under "no port"


# --- malformed input -------------------------------------------------------------------------

_FULL_V4_TCP = bytes(Ether() / IPv4() / TCP())
_FULL_V6_UDP = bytes(Ether() / IPv6() / UDP())
_TAGGED = bytes(Ether() / Dot1Q(vid=5) / IPv4() / UDP())


@pytest.mark.parametrize("data", [
    _TAGGED[:16],                          # VLAN tag cut in half
    _FULL_V4_TCP[:14 + 12],                # IPv4 header cut
    _FULL_V4_TCP[:14 + 20 + 2],            # TCP ports cut
    _FULL_V6_UDP[:14 + 30],                # IPv6 header cut
    bytes(Ether() / IPv4(ihl=3) / UDP()),  # header length below the minimum
], ids=["short-vlan", "short-ipv4", "short-tcp", "short-ipv6", "bad-ihl"])
def test_truncated_or_malformed_headers_are_dropped(fw, data):
    res = run(fw, data)

    assert_action(res, "XDP_DROP")
    assert totals(fw.maps["action_stats"][XDP_DROP]) == (1, len(data))


def test_frames_shorter_than_ethernet_never_reach_the_program(fw):
    """As BPF_PROG_TEST_RUN does (EINVAL), ebpflite refuses them before running anything."""
    with pytest.raises(ebpflite.ContextError, match="shorter than an Ethernet header"):
        run(fw, _FULL_V4_TCP[:10])


# --- both engines side by side ------------------------------------------------------------------


def test_engines_agree_on_a_mixed_batch(ebpf_both):
    """``ebpf_both`` runs every packet on the interpreter and the JIT and fails on any difference
    (action, output packet, map contents)."""
    fw = ebpf_both("firewall.c")
    fw.set_map("blocklist_v4", prefix_key("10.0.0.0/30"), 0)
    fw.set_map("port_policy", port_key(IPPROTO_UDP, 5353), XDP_DROP)
    for i in range(6):
        fw.programs["xdp_firewall"].run(packet=Ether() / IPv4(src=f"10.0.0.{i}") / UDP(dport=5353 - i % 2))
    assert fw.maps["blocklist_v4"][prefix_key("10.0.0.0/30")] == 4


# --- a whole capture ------------------------------------------------------------------------------


def expected_action(data: bytes, blocked: ipaddress.IPv4Network, dropped_port: int) -> int:
    """What the firewall should do with ``data``, worked out from the packet decoder instead of C."""
    frame = decode(data)
    ip = frame.get(IPv4)
    if ip is not None and ipaddress.ip_address(ip.src) in blocked:
        return XDP_DROP
    tcp = frame.get(TCP)
    if tcp is not None and tcp.dport == dropped_port:
        return XDP_DROP
    return XDP_PASS


def test_sample_capture_matches_a_python_model(ebpf_engine, ebpf_compile):
    """Replay the bundled capture through the public API (``ebpflite.load``: no per-run map
    snapshots, so it is fast) and check every verdict and the counters against a model."""
    obj = ebpflite.load(ebpf_compile("firewall.c"), engine=ebpf_engine)
    blocked = ipaddress.ip_network("10.0.1.0/24")
    obj.maps["blocklist_v4"][prefix_key(str(blocked))] = 0
    obj.maps["port_policy"][port_key(IPPROTO_TCP, 22)] = XDP_DROP
    prog = obj.programs["xdp_firewall"]

    packets = read_packets(SAMPLE)
    wrong = []
    expected_drops = 0
    for i, pkt in enumerate(packets):
        want = expected_action(pkt.data, blocked, 22)
        expected_drops += want == XDP_DROP
        got = prog.run(packet=pkt.data).return_value
        if got != want:
            wrong.append(f"packet {i} ({decode(pkt.data).summary()}): got {got}, expected {want}")

    assert not wrong, "\n".join(wrong[:10])
    assert 0 < expected_drops < len(packets)
    assert totals(obj.maps["action_stats"][XDP_DROP])[0] == expected_drops
    assert totals(obj.maps["action_stats"][XDP_PASS])[0] == len(packets) - expected_drops


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
def test_the_kernel_verifier_accepts_it_and_agrees(ebpf_engine, ebpf_compile, tmp_path):
    """Load firewall.o with bpftool in a private bpffs, block a prefix, run two packets with
    BPF_PROG_TEST_RUN and compare with ebpflite. Nothing is left pinned on the host."""
    missing = _kernel_missing()
    if missing:
        pytest.skip(f"kernel test: {missing}")
    obj_path = ebpf_compile("firewall.c")
    key = " ".join(str(b) for b in prefix_key("10.0.1.0/24"))
    packets = [bytes(Ether() / IPv4(src="10.0.1.7") / UDP()), bytes(Ether() / IPv4(src="10.0.2.7") / UDP())]
    for i, data in enumerate(packets):
        (tmp_path / f"in{i}").write_bytes(data)
    pin = "/sys/fs/bpf/ebpflite_example_fw"
    script = "\n".join([
        "set -e", "mount -t bpf bpf /sys/fs/bpf", f"mkdir -p {pin}",
        f"bpftool prog load {obj_path} {pin}/prog pinmaps {pin}/maps",
        f"bpftool map update pinned {pin}/maps/blocklist_v4 key {key} value 0 0 0 0 0 0 0 0",
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
    obj.maps["blocklist_v4"][prefix_key("10.0.1.0/24")] = 0
    ours = [obj.programs["xdp_firewall"].run(packet=p).return_value for p in packets]
    assert kernel == ours == [XDP_DROP, XDP_PASS]
