"""libbpf-style programs compile unchanged against ebpflite's include/ and behave.

The corpus in c/compat/ is written the way xdp-tutorial, the kernel samples
and libbpf-bootstrap write programs: the uapi headers (linux/if_ether.h,
ip.h, ipv6.h, tcp.h, udp.h, icmp.h, icmpv6.h, in.h, in6.h, pkt_cls.h,
if_packet.h, ptrace.h), bpf/bpf_tracing.h and bpf/bpf_core_read.h. Each
program is built by the ziglang wheel and by Debian's clang, loaded by
ebpflite, and the packet parsers run on both engines. Where the kernel
permits, it must accept every object and create its maps as we describe
them. A differential test compares our headers' struct layouts and constants
with the system's uapi headers (linux-libc-dev), when present.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import ebpflite
from ebpflite.errors import LoaderError
from ebpflite.loader import load_object
from ebpflite.loader.btf import Kind
from ebpflite.loader.cc import INCLUDE_DIR, compile_c, find_compilers
from ebpflite.packets import ICMP, TCP, UDP, Dot1Q, Ether, ICMPv6, IPv4, IPv6, decode, internet_checksum

HERE = Path(__file__).resolve().parent
COMPAT = HERE / "c" / "compat"
SOURCES = sorted(p.stem for p in COMPAT.glob("*.c"))
#: extra builds: (name, source stem, defines)
VARIANTS = [("core_read_nocore", "core_read", ("EBPFLITE_NO_CORE",))]
ENGINES = ["interp", "jit"]
XDP = {"XDP_ABORTED": 0, "XDP_DROP": 1, "XDP_PASS": 2, "XDP_TX": 3}


def _compilers() -> list[str]:
    return ["zig", "clang"]


@pytest.fixture(scope="module", params=_compilers())
def built(request, tmp_path_factory) -> dict[str, Path]:
    """name -> object, for one compiler (the module's tests run once per compiler)."""
    compiler = request.param
    if compiler not in dict(find_compilers()):
        pytest.skip(f"compiler {compiler} is not available (zig: pip install ebpflite[cc]; clang: apt-get "
                    "install clang)")
    out = tmp_path_factory.mktemp(f"compat-{compiler}")
    objs = {stem: compile_c(COMPAT / f"{stem}.c", out / f"{stem}.o", compiler=compiler) for stem in SOURCES}
    for name, stem, defines in VARIANTS:
        objs[name] = compile_c(COMPAT / f"{stem}.c", out / f"{name}.o", compiler=compiler, defines=defines)
    return objs


def test_corpus_is_what_the_tests_expect():
    assert {"xdp_tutorial_parse", "xdp_icmp_echo", "xdp_port_filter", "tc_classifier", "kprobe_tracing",
            "tracepoint_openat", "socket_filter", "core_read", "uapi_sizes"} <= set(SOURCES)


def test_every_program_loads_and_verifies(built):
    expected_types = {"xdp_tutorial_parse": "xdp", "tc_classifier": "sched_cls", "kprobe_tracing": "kprobe",
                      "tracepoint_openat": "tracepoint", "socket_filter": "socket_filter",
                      "core_read_nocore": "kprobe"}
    for name, path in built.items():
        if name == "core_read":
            continue
        obj = ebpflite.load(path)
        assert obj.programs, name
        if name in expected_types:
            assert {h.prog_type for h in obj.programs.values()} == {expected_types[name]}, name


def test_core_relocations_without_a_target_are_named(built, monkeypatch):
    """BPF_CORE_READ keeps libbpf's semantics: CO-RE relocations, applied against the kernel's BTF;
    without one (no /sys/kernel/btf/vmlinux, no btf=) the loader says which relocation needs it."""
    from ebpflite.loader import core

    monkeypatch.setattr(core, "VMLINUX_BTF", "/nonexistent/vmlinux")
    with pytest.raises(LoaderError) as exc:
        ebpflite.load(built["core_read"])
    message = str(exc.value)
    assert "nanosleep_entry" in message and "4 CO-RE relocation(s)" in message
    assert "field_byte_offset of task_struct (access 0:0)" in message and "--btf FILE" in message


@pytest.mark.skipif(not Path("/sys/kernel/btf/vmlinux").exists(), reason="this kernel publishes no BTF")
def test_core_read_relocates_against_this_kernel(built):
    """The same object, relocated against /sys/kernel/btf/vmlinux, verifies and runs."""
    obj = ebpflite.load(built["core_read"])
    res = obj.programs["nanosleep_entry"].run(ctx=bytes(168))
    assert res.return_value == 0
    assert int(obj.maps["seen"][0]["has_tgid"]) == 1  # the kernel's task_struct has tgid


def test_core_read_without_core_uses_plain_probe_reads(built):
    """-DEBPFLITE_NO_CORE: no CO-RE records, reads at the local offsets through bpf_probe_read_kernel."""
    objfile = load_object(built["core_read_nocore"])
    prog = objfile.programs["nanosleep_entry"]
    assert not objfile.failed
    obj = ebpflite.load(built["core_read_nocore"])
    res = obj.programs["nanosleep_entry"].run(ctx=bytes(168))
    assert res.return_value == 0
    assert int(obj.maps["seen"][0]["has_tgid"]) == 1  # bpf_core_field_exists -> 1 for the local type
    assert len(prog) > 0


_JIT_OK: dict[tuple[str, str], str] = {}


def _guard_jit(path: Path, prog: str, engine: str, **run: bytes) -> None:
    """Run the JIT in a child process first: if LLVM aborts (an assertion, not an
    exception), this test fails with LLVM's message instead of taking the whole
    test session down. A JIT abort is a release blocker, never an expected failure."""
    if engine != "jit":
        return
    key = (str(path), prog)
    if key not in _JIT_OK:
        code = (f"import ebpflite; ebpflite.load({str(path)!r}, engine='jit').programs[{prog!r}]"
                f".run(engine='jit', **{run!r})")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
        _JIT_OK[key] = "" if proc.returncode == 0 else (proc.stderr.strip().splitlines() or ["?"])[-1][-300:]
    if _JIT_OK[key]:
        pytest.fail(f"the JIT aborts the process on {path.name}:{prog}: {_JIT_OK[key]}")


def _run(obj, name, frame, engine):
    _guard_jit(Path(obj.path), name, engine, packet=bytes(frame))
    return obj.programs[name].run(packet=bytes(frame), engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_xdp_tutorial_parser(built, engine):
    obj = ebpflite.load(built["xdp_tutorial_parse"], engine=engine)
    cases = [
        (Ether() / IPv6() / ICMPv6(type=128, seq=2), "XDP_DROP"),
        (Ether() / IPv6() / ICMPv6(type=128, seq=3), "XDP_PASS"),
        (Ether() / IPv6() / ICMPv6(type=129, seq=2), "XDP_PASS"),
        (Ether() / IPv4() / ICMP(type=8, seq=4), "XDP_DROP"),
        (Ether() / IPv4() / ICMP(type=8, seq=5), "XDP_PASS"),
        (Ether() / IPv4(options=b"\x01\x01\x01\x01") / ICMP(type=8, seq=6), "XDP_DROP"),
        (Ether() / Dot1Q(vid=7) / IPv4() / ICMP(type=8, seq=8), "XDP_DROP"),
        (Ether() / Dot1Q(vid=7) / Dot1Q(vid=8) / IPv6() / ICMPv6(type=128, seq=10), "XDP_DROP"),
        (Ether() / IPv4() / UDP(dport=53) / b"x", "XDP_PASS"),
        (Ether() / IPv4(ihl=4) / ICMP(type=8, seq=2), "XDP_PASS"),
    ]
    counts: dict[int, int] = {}
    for frame, action in cases:
        res = _run(obj, "xdp_parser_func", frame, engine)
        assert res.return_value == XDP[action], (frame, action)
        counts[XDP[action]] = counts.get(XDP[action], 0) + 1
    stats = obj.maps["xdp_stats_map"]
    for action, n in counts.items():
        assert int(stats[action]["rx_packets"]) == n


@pytest.mark.parametrize("engine", ENGINES)
def test_xdp_icmp_echo_reply(built, engine):
    obj = ebpflite.load(built["xdp_icmp_echo"], engine=engine)
    request = Ether(dst="02:00:00:00:00:02", src="02:00:00:00:00:01") / IPv4(src="10.0.0.1", dst="10.0.0.2") \
        / ICMP(type=8, id=0x1234, seq=7) / b"ping payload"
    res = _run(obj, "xdp_icmp_echo_func", request, engine)
    assert res.return_value == XDP["XDP_TX"]
    out = res.packet
    expected = bytes(Ether(dst="02:00:00:00:00:01", src="02:00:00:00:00:02") / IPv4(src="10.0.0.2", dst="10.0.0.1")
                     / ICMP(type=0, id=0x1234, seq=7) / b"ping payload")
    assert out == expected, decode(out)
    assert internet_checksum(out[34:]) == 0
    assert _run(obj, "xdp_icmp_echo_func", Ether() / IPv4() / ICMP(type=0), engine).return_value == XDP["XDP_PASS"]
    assert _run(obj, "xdp_icmp_echo_func", Ether() / IPv4() / UDP(), engine).return_value == XDP["XDP_PASS"]


@pytest.mark.parametrize("engine", ENGINES)
def test_xdp_port_filter(built, engine):
    obj = ebpflite.load(built["xdp_port_filter"], engine=engine)
    cases = [
        (Ether() / IPv4() / TCP(dport=23, flags="S"), "XDP_DROP"),
        (Ether() / IPv4() / TCP(dport=23, flags="SA"), "XDP_PASS"),
        (Ether() / IPv4() / TCP(dport=22, flags="S"), "XDP_PASS"),
        (Ether() / IPv4(options=b"\x01" * 8) / TCP(dport=23, flags="S"), "XDP_DROP"),
        (Ether() / IPv6() / TCP(dport=23, flags="S"), "XDP_DROP"),
        (Ether() / IPv4() / TCP(dport=80, flags="A", dataofs=4), "XDP_DROP"),
        (Ether() / IPv4() / UDP(dport=9), "XDP_DROP"),
        (Ether() / IPv6() / UDP(dport=9), "XDP_DROP"),
        (Ether() / IPv4() / UDP(dport=53), "XDP_PASS"),
        (Ether() / IPv4(version=5) / UDP(dport=9), "XDP_PASS"),
    ]
    for frame, action in cases:
        assert _run(obj, "xdp_port_filter", frame, engine).return_value == XDP[action], (frame, action)
    drops = obj.maps["drops"]
    assert int(drops[6]) == 4 and int(drops[17]) == 2


def _pt_regs(**regs: int) -> bytes:
    order = ["r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
             "orig_ax", "ip", "cs", "flags", "sp", "ss"]
    return b"".join((regs.get(name, 0) & (2**64 - 1)).to_bytes(8, "little") for name in order)


@pytest.mark.parametrize("engine", ENGINES)
def test_kprobe_arguments_from_pt_regs(built, engine):
    obj = ebpflite.load(built["kprobe_tracing"], engine=engine)
    for prog in obj.programs:
        _guard_jit(built["kprobe_tracing"], prog, engine, ctx=_pt_regs())
    obj.programs["do_unlinkat"].run(ctx=_pt_regs(di=-100, si=0xffff8880deadbeef, ip=0xffffffff81234567),
                                    engine=engine)
    obj.programs["do_unlinkat_exit"].run(ctx=_pt_regs(ax=-2), engine=engine)
    call = obj.maps["last_call"][0]
    assert [int(call[f]) for f in ("dfd", "name", "ip", "ret")] == [-100, 0xffff8880deadbeef, 0xffffffff81234567, -2]


@pytest.mark.parametrize("engine", ENGINES)
def test_tracepoint_context(built, engine):
    obj = ebpflite.load(built["tracepoint_openat"], engine=engine)
    ctx = b"".join(v.to_bytes(8, "little", signed=True) for v in (0, 257, -100, 0x1000, 0o100101, 0o644))
    _guard_jit(built["tracepoint_openat"], "trace_enter_openat", engine, ctx=ctx)
    for _ in range(3):
        obj.programs["trace_enter_openat"].run(ctx=ctx, engine=engine)
    assert int(obj.maps["opens_by_flags"][0o100101]) == 3


# --- our headers against the system's uapi headers --------------------------------------------------

OUR_HEADERS = sorted(p.relative_to(INCLUDE_DIR).as_posix() for p in (INCLUDE_DIR / "linux").glob("*.h")
                     if p.name not in {"bpf.h", "types.h", "ptrace.h"})
_DEFINE = re.compile(r"^#define\s+([A-Z][A-Z0-9_]*)\s+([^\s/{][^/]*?)\s*(?:/\*.*)?$", re.M)
_STRUCT = re.compile(r"^(struct|union)\s+(\w+)\s*\{", re.M)


def _probe_source() -> str:
    """A C file including every header, with each integer constant in an array and each struct in a global."""
    lines = ["#include <linux/types.h>"] + [f"#include <{h}>" for h in OUR_HEADERS]
    names, records = [], []
    for h in OUR_HEADERS:
        text = (INCLUDE_DIR / h).read_text()
        names += [n for n, value in _DEFINE.findall(text) if not n.startswith("__")]
        records += [(kind, n) for kind, n in _STRUCT.findall(text)]
    lines.append("const long long constants[] = {")
    for n in names:
        lines += [f"#ifdef {n}", f"\t(long long)({n}),", "#else", "\t0x7eadbeefLL,", "#endif"]
    lines.append("};")
    lines += [f"{kind} {n} probe_{n};" for kind, n in records]
    return "\n".join(lines) + "\n", names, records


def _layout(btf, tid: int, prefix: str = "", base: int = 0, depth: int = 0) -> list[tuple]:
    """Flattened (path, bit offset, bitfield size, byte size) of a struct/union and its nested records."""
    t = btf.resolve(tid)
    out = []
    for m in t.members:
        mt = btf.resolve(m.type_id)
        path = f"{prefix}.{m.name}" if m.name else prefix
        out.append((path, base + m.offset, m.bitfield_size, btf.size_of(m.type_id)))
        if mt is not None and mt.kind in (Kind.STRUCT, Kind.UNION) and depth < 8:
            out += _layout(btf, m.type_id, path, base + m.offset, depth + 1)
    return out


def test_headers_match_system_uapi(tmp_path, clang):
    system = Path("/usr/include/linux")
    if not (system / "ip.h").is_file():
        pytest.skip("the system's uapi headers are not installed (apt-get install linux-libc-dev)")
    source, names, records = _probe_source()
    src = tmp_path / "uapi_probe.c"
    src.write_text(source)
    multiarch = sysconfig.get_config_var("MULTIARCH") or "x86_64-linux-gnu"
    ours = compile_c(src, tmp_path / "ours.o", compiler="clang")
    theirs = tmp_path / "theirs.o"
    subprocess.run([clang, "-target", "bpf", "-O2", "-g", "-D__x86_64__", "-I", f"/usr/include/{multiarch}", "-c", str(src),
                    "-o", str(theirs)], check=True, capture_output=True, timeout=120)
    a, b = load_object(ours, partial=True), load_object(theirs, partial=True)

    def values(obj):
        data = next(m.initial for m in obj.maps if m.name.startswith(".rodata"))
        return [int.from_bytes(data[i:i + 8], "little", signed=True) for i in range(0, len(data), 8)]

    missing = 0x7EADBEEF
    compared = 0
    for name, mine, sys_value in zip(names, values(a), values(b), strict=True):
        if sys_value != missing:
            assert mine == sys_value, f"{name}: ours {mine:#x}, the kernel's {sys_value:#x}"
            compared += 1
    assert compared > 300
    for kind, name in records:
        k = Kind.STRUCT if kind == "struct" else Kind.UNION
        ta, tb = a.btf.find(name, k), b.btf.find(name, k)
        assert ta is not None and tb is not None, name
        assert ta.size == tb.size, name
        assert sorted(_layout(a.btf, ta.id)) == sorted(_layout(b.btf, tb.id)), name


# --- the kernel accepts the objects and creates their maps as we describe them -----------------------

def _kernel_missing() -> str | None:
    for tool in ("bpftool", "unshare"):
        if shutil.which(tool) is None and not os.path.exists(f"/usr/sbin/{tool}"):
            return f"{tool} is not installed"
    if os.geteuid() != 0:
        return "loading into the kernel needs root (CAP_BPF, CAP_SYS_ADMIN for unshare/mount)"
    probe = subprocess.run(["unshare", "--mount", "sh", "-c", "mount -t bpf bpf /sys/fs/bpf && bpftool prog show"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"the kernel refuses BPF here: {probe.stderr.strip()[:200]}"
    return None


def _kernel_load(objs: dict[str, Path], work: Path) -> dict[str, dict]:
    """Load each object with `bpftool prog loadall` in a private bpffs; report its programs' maps or its error."""
    lines = ["mount -t bpf bpf /sys/fs/bpf || exit 3", "mkdir -p /sys/fs/bpf/compat"]
    for name, path in objs.items():
        pin = f"/sys/fs/bpf/compat/{name}"
        lines += [f"echo '=== {name}'",
                  f"if bpftool prog loadall {shlex.quote(str(path))} {pin} >{work}/{name}.log 2>&1; then",
                  f"  for p in {pin}/*; do bpftool -j prog show pinned $p; echo; done",
                  f"  for id in $(for p in {pin}/*; do bpftool -j prog show pinned $p; done | "
                  "grep -o '\"map_ids\":\\[[0-9,]*\\]' | grep -o '[0-9]\\+' | sort -u); do",
                  "    echo MAP; bpftool -j map show id $id; echo",
                  "  done",
                  "else echo FAILED; fi",
                  f"rm -rf {pin}"]
    lines.append("find /sys/fs/bpf -mindepth 1 -maxdepth 1 ! -name '*.debug' -exec rm -rf {} + ; true")
    script = work / "load.sh"
    script.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(["unshare", "--mount", "bash", str(script)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = {}
    for chunk in proc.stdout.split("=== ")[1:]:
        name, _, body = chunk.partition("\n")
        if body.startswith("FAILED"):
            results[name] = {"error": (work / f"{name}.log").read_text()[-1500:]}
            continue
        progs, maps = [], []
        for part in body.split("MAP\n"):
            for line in part.strip().splitlines():
                if not line.startswith("{"):
                    continue  # bpftool warnings
                info = json.loads(line)
                (maps if "key_size" in info or "bytes_key" in info else progs).append(info)
        results[name] = {"progs": progs, "maps": maps}
    return results


def _agree(objs: dict[str, Path], tmp_path: Path, expect_loaded: set[str]):
    reason = _kernel_missing()
    if reason:
        pytest.skip(f"kernel BPF: {reason}")
    results = _kernel_load(objs, tmp_path)
    for name in expect_loaded:
        assert "error" not in results[name], f"the kernel refused {name}: {results[name]['error']}"
        ours = load_object(objs[name], partial=True)
        assert {p["name"][:15] for p in results[name]["progs"]} == {n[:15] for n in [*ours.programs, *ours.failed]}, name
        kernel_maps = {m["name"]: m for m in results[name]["maps"]}
        for spec in ours.maps:
            if spec.name.startswith("."):
                continue  # global data: libbpf names it after the object
            km = kernel_maps.get(spec.name[:15]) or kernel_maps.get(spec.name)
            if km is None:
                continue  # not used by any program, so not listed through map_ids
            assert km["type"] == spec.type, (name, spec.name)
            assert (km["bytes_key"], km["bytes_value"], km["max_entries"]) == \
                (spec.key_size, spec.value_size, spec.max_entries), (name, spec.name)
    return results


@pytest.mark.kernel
def test_kernel_accepts_compat_corpus(built, tmp_path):
    results = _agree(built, tmp_path, set(built))
    named = {m["name"] for r in results.values() for m in r.get("maps", [])}
    assert {"xdp_stats_map", "drops", "tc_verdicts", "last_call", "opens_by_flags", "proto_bytes"} <= named


#: the loader's own corpus (tests/loader/c): objects the kernel loads with `bpftool prog loadall` as they are.
#: Not listed: legacy `maps` sections (libbpf 1.0 dropped them), custom section names
#: (no program type for libbpf to guess), core.c (its CO-RE reads point into a test struct, not the kernel's).
KERNEL_LOADABLE = {"maps_btf"}


@pytest.mark.kernel
def test_kernel_accepts_loader_corpus_maps(objects, tmp_path):
    loadable = {name: path for name, path in objects.items() if name in KERNEL_LOADABLE}
    assert set(loadable) == KERNEL_LOADABLE
    results = _agree(loadable, tmp_path, KERNEL_LOADABLE)
    assert len(results["maps_btf"]["maps"]) >= 3
