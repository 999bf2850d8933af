"""The pytest plugin, exercised the way users meet it: inner pytest sessions (pytester).

Most inner sessions run against a small fake runtime (installed by the inner
conftest as ``ebpflite.load``) so that the plugin's own behaviour (engine
parametrisation, failure reports, engine comparison) is tested exactly;
``test_real_*`` run real programs when the runtime and a compiler exist.
"""

from __future__ import annotations

import numpy  # noqa: F401  (imported before pytester snapshots sys.modules: numpy cannot be loaded twice)
import pytest

pytest_plugins = ["pytester"]

FAKE_RUNTIME = r'''
import dataclasses
import pytest
import ebpflite
from ebpflite.packets import IPv4, decode

@dataclasses.dataclass
class Result:
    return_value: int
    action: str
    packet: bytes
    trace_output: list
    insns_executed: int = 3
    trace: list | None = None

@dataclasses.dataclass
class Entry:
    pc: int
    insn: str
    changed: dict

class FakeMap(dict):
    def raw_items(self):
        return [(k, [v]) for k, v in self.items()]

class FakeProgram:
    """Decrements the IPv4 TTL (fixing the checksum unless told not to) and counts packets."""
    def __init__(self, obj):
        self.obj = obj
    def run(self, packet=None, ctx=None, trace=False):
        frame = decode(packet)
        counters = self.obj.maps["counters"]
        counters[b"\x00"] = bytes([counters.get(b"\x00", b"\x00")[0] + 1])
        if IPv4 in frame:
            frame[IPv4].ttl -= 1
            if not self.obj.options.get("forget_checksum"):
                frame[IPv4].chksum = None
        drop = IPv4 in frame and frame[IPv4].ttl == 0
        bug = self.obj.options.get("jit_bug") and self.obj.engine == "jit"
        code = 1 if drop else (3 if bug else 2)
        steps = [Entry(pc, f"insn {pc}", {"r0": pc}) for pc in range(30)] if trace else None
        return Result(code, {1: "XDP_DROP", 2: "XDP_PASS", 3: "XDP_TX"}[code], bytes(frame),
                      [f"ttl now {frame[IPv4].ttl}" if IPv4 in frame else "not ip"], trace=steps)

class FakeObject:
    def __init__(self, path, engine, options):
        self.path, self.engine, self.options = path, engine, options
        self.maps = {"counters": FakeMap()}
        self.programs = {"xdp_ttl": FakeProgram(self)}

LOADS = []

def fake_load(path, verify=True, engine="interp", **options):
    LOADS.append((str(path), engine, verify))
    return FakeObject(path, engine, options)

@pytest.fixture(autouse=True)
def fake_runtime(monkeypatch):
    monkeypatch.setattr(ebpflite, "load", fake_load, raising=False)
    return LOADS
'''


@pytest.fixture
def fake(pytester):
    pytester.makeconftest(FAKE_RUNTIME)
    (pytester.path / "prog.o").write_bytes(b"\x7fELF fake object")
    return pytester


def test_ebpf_engine_parametrises_with_engine_in_the_id(fake):
    fake.makepyfile("""
        def test_engine(ebpf_engine):
            assert ebpf_engine in ("interp", "jit")

        def test_load(ebpf_load, ebpf_engine, fake_runtime):
            obj = ebpf_load("prog.o")
            assert obj.engine == ebpf_engine
            assert fake_runtime[-1][1:] == (ebpf_engine, True)
    """)
    result = fake.runpytest("-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*test_engine?interp? PASSED*", "*test_engine?jit? PASSED*",
                                 "*test_load?interp? PASSED*", "*test_load?jit? PASSED*"])


def test_engine_selection_by_option_marker_and_parametrize(fake):
    fake.makepyfile("""
        import pytest

        def test_both(ebpf_engine):
            pass

        @pytest.mark.ebpf_engines("interp")
        def test_marked(ebpf_engine):
            assert ebpf_engine == "interp"

        @pytest.mark.parametrize("ebpf_engine", ["jit"])
        def test_chosen(ebpf_engine):
            assert ebpf_engine == "jit"
    """)
    fake.runpytest("-v").assert_outcomes(passed=4)
    only = fake.runpytest("-v", "--ebpf-engine", "jit")
    only.assert_outcomes(passed=2, skipped=1)  # test_marked has no engine left: an empty parameter set
    only.stdout.fnmatch_lines(["*test_both?jit? PASSED*"])


def test_jit_is_skipped_only_when_llvmlite_is_missing(fake):
    fake.makepyfile("""
        import sys
        sys.modules["llvmlite"] = None  # as if llvmlite were not installed

        def test_engine(ebpf_engine):
            pass
    """)
    result = fake.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*the jit engine needs llvmlite*"])


def test_assert_action_failure_shows_action_maps_printk_and_packets(fake):
    fake.makepyfile("""
        from ebpflite.packets import Ether, IPv4, UDP
        from ebpflite.testing import assert_action

        def test_action(ebpf_load):
            obj = ebpf_load("prog.o")
            res = obj.programs["xdp_ttl"].run(packet=Ether() / IPv4(ttl=9) / UDP())
            assert_action(res, "XDP_PASS")   # passes: PASS
            assert_action(res, "PASS")       # prefix may be left out
            assert_action(res, 2)            # or the return value
            assert_action(res, "XDP_DROP")
    """)
    result = fake.runpytest("--ebpf-engine", "interp")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*expected action XDP_DROP, got XDP_PASS (return value 2)",
        "*program xdp_ttl on engine interp: XDP_PASS (return value 2)",
        "*input packet:  Ether * / IPv4 10.0.0.1 > 10.0.0.2 / UDP 1234 > 53",
        "*maps changed by the run:",
        "*counters[[]00]: added 01",
        "*bpf_printk output:",
        "*ttl now 8",
    ])


def test_assert_packet_failure_shows_field_and_hex_diff_and_broken_checksum(fake):
    fake.makepyfile("""
        from ebpflite.packets import Ether, IPv4, UDP
        from ebpflite.testing import assert_packet

        def test_packet(ebpf_load):
            obj = ebpf_load("prog.o", forget_checksum=True)
            res = obj.programs["xdp_ttl"].run(packet=Ether() / IPv4(ttl=64) / UDP())
            assert_packet(res, Ether() / IPv4(ttl=63) / UDP())
    """)
    result = fake.runpytest("--ebpf-engine", "interp")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*the output packet differs from the expected one",
        "*fields that differ:",
        "*IPv4.chksum: expected 0x*, got 0x*",
        "*wrong checksums in the actual packet:",
        "*IPv4.chksum is 0x*, should be 0x*",
        "*bytes (rows that differ are marked *",
        "*0010 *",
        "*^^*",
    ])
    # the TTL itself was right: only the checksum is reported
    assert "IPv4.ttl" not in result.stdout.str()


def test_trace_option_shows_instructions_before_the_exit(fake):
    fake.makepyfile("""
        from ebpflite.packets import Ether, IPv4, UDP
        from ebpflite.testing import assert_action

        def test_traced(ebpf_load):
            res = ebpf_load("prog.o").programs["xdp_ttl"].run(packet=Ether() / IPv4() / UDP())
            assert_action(res, "XDP_TX")
    """)
    result = fake.runpytest("--ebpf-engine", "interp", "--ebpf-trace")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*last 20 instructions before the exit:", "*   29: insn 29    ; r0=0x1d"])
    assert "   9: insn 9 " not in result.stdout.str()  # only the tail
    plain = fake.runpytest("--ebpf-engine", "interp")
    assert "instructions before the exit" not in plain.stdout.str()


def test_ebpf_both_fails_when_engines_disagree(fake):
    fake.makepyfile("""
        from ebpflite.packets import Ether, IPv4, UDP

        def test_agree(ebpf_both):
            both = ebpf_both("prog.o")
            res = both.programs["xdp_ttl"].run(packet=bytes(Ether() / IPv4() / UDP()))
            assert res.action == "XDP_PASS"

        def test_disagree(ebpf_both):
            both = ebpf_both("prog.o", jit_bug=True)
            both.programs["xdp_ttl"].run(packet=bytes(Ether() / IPv4() / UDP()))
    """)
    result = fake.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*engines disagree on program xdp_ttl:",
                                 "*return_value: interp 2, jit 3",
                                 "*action: interp 'XDP_PASS', jit 'XDP_TX'"])


def test_frame_equality_assertions_explain_themselves(pytester):
    pytester.makepyfile("""
        from ebpflite.packets import Ether, IPv6, UDP, decode

        def test_eq():
            assert decode(bytes(Ether() / IPv6(hlim=1) / UDP())) == Ether() / IPv6(hlim=2) / UDP()
    """)
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*packets differ:*", "*IPv6.hlim: expected 1, got 2*"])


def test_ebpf_compile_returns_objects_and_reports_missing_files(fake):
    fake.makepyfile("""
        import pytest

        def test_object_passes_through(ebpf_compile):
            assert ebpf_compile("prog.o").name == "prog.o"

        def test_missing(ebpf_compile):
            with pytest.raises(FileNotFoundError, match="nothere.c: no such file"):
                ebpf_compile("nothere.c")
    """)
    fake.runpytest().assert_outcomes(passed=2)


def test_ebpf_compile_skips_without_a_compiler(fake):
    fake.makepyfile("""
        import ebpflite.loader.cc as cc

        def test_no_compiler(ebpf_compile, monkeypatch, tmp_path):
            monkeypatch.setattr(cc, "find_compilers", lambda: [])
            ebpf_compile("int x;")
    """)
    result = fake.runpytest("-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*cannot compile prog-*.c: no C compiler for eBPF found*"])


C_PROGRAM = """
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_pass(struct xdp_md *ctx) { return XDP_PASS; }

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture
def compiler():
    from ebpflite.loader.cc import find_compilers

    if not find_compilers():
        pytest.skip("no eBPF C compiler (ziglang wheel or clang) is installed")


def test_ebpf_compile_caches_and_reports_compile_errors(pytester, compiler, tmp_path):
    cache = tmp_path / "cache"
    pytester.makepyfile(test_cc=f"""
        import pytest

        SOURCE = {C_PROGRAM!r}

        def test_compiles(ebpf_compile):
            first = ebpf_compile(SOURCE, name="pass")
            assert first.read_bytes()[:4] == b"\\x7fELF"
            mtime = first.stat().st_mtime_ns
            assert ebpf_compile(SOURCE, name="pass") == first

        def test_broken(ebpf_compile):
            ebpf_compile("int broken( {{", name="broken")
    """)
    result = pytester.runpytest("--ebpf-cache-dir", str(cache))
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*broken-*.c: compilation failed (exit *"])
    cached = list((cache / "cc").glob("*.o"))
    assert len(cached) == 1
    # a second session reuses the cached object (same key), even with the compiler gone
    pytester.makepyfile(test_cc2=f"""
        import ebpflite.loader.cc as cc

        def test_cached(ebpf_compile, monkeypatch):
            real = cc.subprocess.run
            def refuse(*a, **k):
                raise AssertionError("recompiled although cached")
            monkeypatch.setattr(cc.subprocess, "run", refuse)
            assert ebpf_compile({C_PROGRAM!r}, name="pass").is_file()
    """)
    pytester.runpytest("--ebpf-cache-dir", str(cache), "test_cc2.py").assert_outcomes(passed=1)


TTL_PROGRAM = r"""
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct ethhdr { unsigned char h_dest[6], h_source[6]; __be16 h_proto; };
struct iphdr { __u8 ihl_version, tos; __be16 tot_len, id, frag_off; __u8 ttl, protocol; __sum16 check; __be32 saddr, daddr; };
#define ETH_P_IP 0x0800

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 4);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

SEC("xdp")
int xdp_ttl(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end)
        return XDP_PASS;
    __u32 key = ip->ttl <= 1 ? XDP_DROP : XDP_TX;
    __u64 *count = bpf_map_lookup_elem(&counters, &key);
    if (count)
        __sync_fetch_and_add(count, 1);
    if (key == XDP_DROP)
        return XDP_DROP;
    __u32 sum = (__u16)~ip->check + (__u16)~bpf_htons(ip->ttl << 8) + bpf_htons((ip->ttl - 1) << 8);
    ip->ttl--;
    sum = (sum & 0xffff) + (sum >> 16);
    ip->check = ~((sum & 0xffff) + (sum >> 16));
    bpf_printk("ttl now %d", ip->ttl);
    return XDP_TX;
}
char LICENSE[] SEC("license") = "GPL";
"""


def test_real_program_on_both_engines(pytester, compiler):
    """A real XDP program (TTL decrement with an incremental checksum update and a counter map),
    compiled from C and run by the fixtures on both engines."""
    pytester.makefile(".c", ttl=TTL_PROGRAM)
    pytester.makepyfile(test_ttl="""
        from ebpflite.packets import Ether, IPv4, UDP, decode
        from ebpflite.testing import assert_action, assert_packet

        PACKET = Ether() / IPv4(ttl=5) / UDP() / b"hi"

        # verify=False: the verifier does not yet accept bpf_printk with arguments
        def test_decrements(ebpf_load):
            obj = ebpf_load("ttl.c", verify=False)
            res = obj.programs["xdp_ttl"].run(packet=PACKET)
            assert_action(res, "XDP_TX")
            expected = decode(bytes(PACKET)).recompute()
            expected[IPv4].ttl = 4
            assert_packet(res, expected)
            assert res.map_changes() == ["counters[03 00 00 00]: 00 00 00 00 00 00 00 00 -> "
                                         "01 00 00 00 00 00 00 00"]

        def test_engines_agree(ebpf_both):
            both = ebpf_both("ttl.c", verify=False)
            for ttl in (1, 2, 64):
                both.programs["xdp_ttl"].run(packet=Ether() / IPv4(ttl=ttl) / UDP())

        def test_failure_report(ebpf_load):
            res = ebpf_load("ttl.c", verify=False).programs["xdp_ttl"].run(packet=PACKET, trace=True)
            assert_action(res, "XDP_PASS")
    """)
    result = pytester.runpytest("-v", "--ebpf-cache-dir", str(pytester.path / "cache"))
    result.assert_outcomes(passed=3, failed=2)
    result.stdout.fnmatch_lines(["*test_decrements?interp? PASSED*", "*test_decrements?jit? PASSED*",
                                 "*test_engines_agree PASSED*"])
    result.stdout.fnmatch_lines([
        "*expected action XDP_PASS, got XDP_TX (return value 3)",
        "*counters[[]03 00 00 00]: 00 00 00 00 00 00 00 00 -> 01 00 00 00 00 00 00 00",
        "*ttl now 4*",
        "*last * instructions before the exit:",
        "*exit*",
    ])
    result.stdout.fnmatch_lines(["*no instruction trace: the jit engine records none*"])
