"""Generate docs/verifier.md: every verifier message, with a program that produces it.

Why generated: the message texts belong to the verifier, and a copy in the
docs would drift the day a message is reworded. Each entry of
:data:`EXAMPLES` is a small assembly program; this script runs the verifier
on it and writes the report it prints, exactly. ``tests/test_docs.py``
regenerates the page and fails if it differs from the committed one, and
checks that every check name the verifier can report has an entry here.

Run ``python docs/gen_verifier.py`` after changing a verifier message.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ebpflite import verifier
from ebpflite.loader.maps import MapSpec
from ebpflite.vm.asm import assemble_program

OUT = Path(__file__).with_name("verifier.md")

#: maps the example programs may use, by the index ``map_fd(N)`` names
MAPS = [
    MapSpec("counts", "array", 4, 8, 16),
    MapSpec("config", "array", 4, 8, 1, flags=0x80),  # BPF_F_RDONLY_PROG
    MapSpec("events", "ringbuf", 0, 0, 4096),
]


@dataclass(frozen=True)
class Example:
    """One verifier check: the program that trips it and what to say about it."""

    check: str  #: the ``Finding.check`` name the first error must carry
    title: str
    why: str  #: what the check protects against, for the reader
    asm: str
    prog_type: str = "xdp"
    platform: str = "linux"
    options: dict[str, Any] = field(default_factory=dict)  #: extra ``verifier.verify`` keywords


EXAMPLES: list[Example] = [
    Example("uninit_reg", "Reading a register that was never written",
            "Only r1 (the context) and r10 (the frame pointer) are set at entry; r1-r5 are "
            "also clobbered by every helper call.",
            "r0 = r2\nexit"),
    Example("mixed_type", "A register whose type depends on too many paths",
            "Where paths meet, states whose register types differ are kept apart (as the kernel "
            "explores paths separately), up to 32 per instruction; past that the two closest are joined, "
            "and a register with different types on the joined paths becomes a mixed value that cannot "
            "be used. Here four registers each hold the context or a stack pointer: 16 combinations, "
            "with the bound lowered to 8 (``max_states=8``).",
            "r6 = *(u32 *)(r1 + 12)\n"
            + "".join(f"r{r} = r1\nif r6 & {1 << r} goto l{r}\nr{r} = r10\nl{r}:\n" for r in (2, 3, 4, 5))
            + "r0 = r2\nr0 = r3\nr0 = r4\nr0 = r5\nr0 = 0\nexit", options={"max_states": 8}),
    Example("pointer_leak", "Leaking an address",
            "Programs must not hand kernel addresses to user space: not as the return value, not "
            "stored into maps or the packet, not as a helper's number argument.",
            "r0 = r10\nexit"),
    Example("deref_number", "Dereferencing a number",
            "Only pointers the verifier has typed (context, stack, packet, map value, memory) may "
            "be dereferenced.",
            "r1 = 4096\nr0 = *(u64 *)(r1 + 0)\nexit"),
    Example("null_deref", "Using a map lookup's result without a NULL check",
            "bpf_map_lookup_elem returns NULL for a missing key.",
            "r2 = r10\nr2 += -4\n*(u32 *)(r2 + 0) = 0\nr1 = map_fd(0)\ncall bpf_map_lookup_elem\n"
            "r0 = *(u64 *)(r0 + 0)\nexit"),
    Example("bad_deref", "Dereferencing a pointer that has no memory behind it",
            "A map pointer (from lddw), data_end or a function address is not memory a program may read.",
            "r1 = map_fd(0)\nr0 = *(u64 *)(r1 + 0)\nexit"),
    Example("atomic_region", "An atomic operation outside the stack and map values",
            "Atomic instructions are allowed on the stack and on map values only.",
            "r2 = 1\nlock *(u32 *)(r1 + 0) += w2\nr0 = 2\nexit"),
    Example("readonly", "Writing to a map that is read-only to programs",
            "Maps created with BPF_F_RDONLY_PROG (and .rodata) may only be read.",
            "r2 = r10\nr2 += -4\n*(u32 *)(r2 + 0) = 0\nr1 = map_fd(1)\ncall bpf_map_lookup_elem\n"
            "if r0 == 0 goto out\n*(u64 *)(r0 + 0) = 1\nout:\nr0 = 2\nexit"),
    Example("packet_bounds", "Reading the packet without comparing against data_end",
            "Every packet access must be proven to lie between data and data_end.",
            "r2 = *(u32 *)(r1 + 0)\nr0 = *(u8 *)(r2 + 0)\nexit"),
    Example("unbounded_offset", "Adding an unbounded number to a pointer",
            "A variable offset must have known bounds before it is added to a pointer.",
            "r2 = *(u32 *)(r1 + 12)\nr3 = r10\nr3 += r2\nr0 = 2\nexit"),
    Example("map_bounds", "Reading past the end of a map value",
            "Map value accesses must stay within value_size bytes.",
            "r2 = r10\nr2 += -4\n*(u32 *)(r2 + 0) = 0\nr1 = map_fd(0)\ncall bpf_map_lookup_elem\n"
            "if r0 == 0 goto out\nr0 = *(u64 *)(r0 + 8)\nout:\nr0 = 2\nexit"),
    Example("ctx_access", "Reading past the end of the context",
            "Context accesses must hit a field of the program type's context structure, whole.",
            "r0 = *(u32 *)(r1 + 24)\nexit"),
    Example("stack_bounds", "Writing below the 512-byte stack frame",
            "Each function has 512 bytes of stack below r10.",
            "*(u64 *)(r10 - 520) = 0\nr0 = 2\nexit"),
    Example("uninit_stack", "Reading stack bytes that were never written",
            "PREVAIL (ebpf-for-windows) refuses it, since the value is whatever was left there; the Linux "
            "kernel allows it for privileged programs, so for Linux programs it is a note, not an error.",
            "r0 = *(u64 *)(r10 - 8)\nexit", prog_type="sample", platform="windows"),
    Example("helper_arg", "Passing the wrong kind of value to a helper",
            "Helper arguments are checked against the prototypes in helpers/registry.py.",
            "r1 = 0\nr2 = r10\nr2 += -8\ncall bpf_map_lookup_elem\nr0 = 2\nexit"),
    Example("helper", "Calling a helper the platform does not have",
            "Helper numbers are looked up in the platform's helper table.",
            "call 9999\nr0 = 2\nexit"),
    Example("helper_type", "Calling a helper the program type does not offer",
            "Each program type has its own helpers (the kernel's get_func_proto for that type, checked "
            "against the running kernel): XDP programs cannot use the sk_buff helpers, kprobes cannot "
            "write user memory, socket filters cannot change the packet. Helpers that may sleep need a "
            "sleepable program.",
            "r2 = 0\nr3 = r10\nr3 += -8\nr4 = 8\nr5 = 0\ncall bpf_skb_store_bytes\nr0 = 2\nexit"),
    Example("map_type", "Passing a map of the wrong type to a helper",
            "Some helpers only take certain map types (bpf_tail_call a prog_array, bpf_redirect_map a "
            "devmap, cpumap or xskmap), and some map types only go to their own helpers (a prog_array "
            "only to bpf_tail_call), as the kernel's check_map_func_compatibility says.",
            "r2 = map_fd(0)\nr3 = 0\ncall bpf_tail_call\nr0 = 2\nexit"),
    Example("pointer_arith", "Arithmetic other than add/sub on a pointer",
            "Only adding and subtracting numbers keeps a pointer's region and bounds known.",
            "r0 = r10\nr0 *= 2\nr0 = 2\nexit"),
    Example("ld_abs", "Legacy packet loads outside socket filters and tc",
            "LD_ABS/LD_IND need an sk_buff context.",
            "r6 = r1\nr0 = *(u8 *)skb[12]\nexit"),
    Example("termination", "A loop that may never end",
            "Every loop must be proven to terminate.",
            "r0 = 0\nl:\nif r0 == 0 goto l\nexit"),
    Example("complexity", "A program too complex to analyse",
            "The analysis gives up after a fixed number of processed instructions (1,000,000 by "
            "default; this example lowers it with ``max_insns=20``).",
            "r0 = 0\nl:\nr0 += 1\nif r0 < 100 goto l\nexit", options={"max_insns": 20}),
    Example("stack_escape", "Returning a pointer to a callee's stack frame",
            "A function's frame is gone once it returns.",
            "call local f\nr0 = 2\nexit\nf:\nr0 = r10\nr0 += -8\nexit"),
    Example("stack_depth", "Frames that together exceed 512 bytes",
            "Like the kernel, the frames of a call chain share one 512-byte budget.",
            "*(u64 *)(r10 - 400) = 0\ncall local f\nr0 = 2\nexit\nf:\n*(u64 *)(r10 - 400) = 0\nr0 = 0\nexit"),
    Example("unreleased", "Exiting with a ring buffer record still reserved",
            "A record from bpf_ringbuf_reserve must be submitted or discarded on every path.",
            "r1 = map_fd(2)\nr2 = 8\nr3 = 0\ncall bpf_ringbuf_reserve\nr0 = 2\nexit"),
    Example("spin_lock", "Calling a helper while holding a bpf_spin_lock",
            "Between bpf_spin_lock and bpf_spin_unlock a program may only load, store and compute: no "
            "helper or function calls, one lock at a time, and every path unlocks before it returns.",
            "r2 = r10\nr2 += -4\n*(u32 *)(r2 + 0) = 0\nr1 = map_fd(0)\ncall bpf_map_lookup_elem\n"
            "if r0 == 0 goto out\nr6 = r0\nr1 = r0\ncall bpf_spin_lock\ncall bpf_ktime_get_ns\n"
            "*(u64 *)(r6 + 8) = r0\nr1 = r6\ncall bpf_spin_unlock\nout:\nr0 = 2\nexit"),
    Example("div_zero", "Dividing by the constant 0",
            "The ISA defines division by zero (the result is 0; modulo leaves the dividend), so a "
            "register holding 0 is fine, but the kernel refuses a division or modulo by an immediate "
            "0, which is always a mistake.",
            "r0 = 2\nr0 /= 0\nexit"),
    Example("return_range", "Returning a value the program type does not allow",
            "cgroup_skb programs must return 0 (drop) or 1 (allow).",
            "r0 = 5\nexit", prog_type="cgroup_skb"),
    Example("call_depth", "Calls nested more than 8 deep",
            "The kernel allows at most 8 frames.",
            "\n".join(["call local f1", "r0 = 2", "exit"]
                      + [line for i in range(1, 9) for line in (f"f{i}:", f"call local f{i + 1}", "exit")]
                      + ["f9:", "r0 = 0", "exit"])),
    Example("bad_map", "A map reference the object does not have",
            "lddw map references come from the object's relocations.",
            "r1 = map_idx(7)\nr0 = 2\nexit"),
    Example("unsupported", "A construct ebpflite's verifier does not handle",
            "Kernel functions (kfuncs) and some pseudo lddw forms cannot run in userspace.",
            "call kfunc 1234\nr0 = 2\nexit"),
    Example("cfg", "A jump out of the program",
            "The control-flow graph must stay inside the program.",
            "goto +5\nr0 = 2\nexit"),
    Example("unreachable", "Dead code (an error for Linux, a note for ebpf-for-windows)",
            "The kernel refuses a program with an instruction no path reaches (its check_cfg); "
            "PREVAIL only notes it. ebpflite decides as the program's platform does.",
            "r0 = 2\nexit\nr0 = 1\nexit"),
]

#: check names that no example demonstrates, with the reason
NOT_SHOWN: dict[str, str] = {
    "global_func": "a global (non-static) function, as its BTF declares it, that returns something other "
                   "than a number (a pointer, a struct, void) or takes an argument the kernel cannot type "
                   "(void *, a struct by value), or a call passing the wrong kind of argument: \"global "
                   "function f() returns __u32 *, but global functions must return a number (int or "
                   "enum)\". Assembly has no BTF; tests/verifier/corpus/unsafe/global_returns_pointer.c and "
                   "global_arg_void_pointer.c are examples.",
    "core": "an instruction whose CO-RE relocation the target BTF cannot satisfy (the loader poisons it, "
            "as libbpf does, and the verifier reports the relocation if the instruction is reachable); it "
            "needs a compiled object and a target BTF, so it is shown in docs/loader.md",
}


def run(example: Example) -> verifier.Report:
    """Verify the example program, with the example maps, as the CLI would."""
    program = assemble_program(example.asm, name=example.check, file=f"{example.check}.s",
                               platform=example.platform)
    program = replace(program, maps=list(MAPS), prog_type=example.prog_type)
    return verifier.verify(program, **example.options)


def first_check(report: verifier.Report) -> str:
    """The check name of the first error (or of the first note when there are no errors)."""
    findings = report.errors or report.notes
    return findings[0].check if findings else ""


def render() -> str:
    """The whole of docs/verifier.md."""
    out = [
        "# The verifier's messages",
        "",
        "<!-- generated by docs/gen_verifier.py from the verifier itself: do not edit by hand -->",
        "",
        "`ebpflite verify prog.o` (or `ebpflite.verifier.verify(program)` in Python) proves that a",
        "program is memory safe and terminates, or says why not. Each rejection names the",
        "instruction (`pc: message`), the failed condition as a formula in parentheses, the",
        "source line when the object has line info (`at file:line`), the abstract values of the",
        "registers involved and, where there is a common fix, a hint. `--all` reports every",
        "error instead of the first; `--json` gives the same fields per error, including the",
        "`check` name used as the heading of each section below.",
        "",
        "Every example is a small assembly program run through the verifier by",
        "`docs/gen_verifier.py`; the output shown is what the verifier printed, and",
        "`tests/test_docs.py` fails when it no longer matches. Unless stated, programs are",
        f"`xdp` programs for Linux with three maps: map 0 `{MAPS[0].name}` (array, 4-byte keys,",
        f"8-byte values), map 1 `{MAPS[1].name}` (the same, read-only to programs) and map 2",
        f"`{MAPS[2].name}` (a ring buffer).",
        "",
        "To run one yourself:",
        "",
        "```python",
        "from ebpflite import verifier",
        "from ebpflite.vm.asm import assemble_program",
        "",
        'report = verifier.verify(assemble_program("*(u64 *)(r10 - 520) = 0\\nr0 = 2\\nexit"), prog_type="xdp")',
        "assert not report.ok",
        'assert report.errors[0].check == "stack_bounds"',
        "print(report.text())",
        "```",
        "",
        "## Contents",
        "",
    ]
    out += [f"- [`{e.check}`](#{e.check}): {e.title}" for e in EXAMPLES]
    for e in EXAMPLES:
        report = run(e)
        where = f"`{e.prog_type}` program" + (f" on {e.platform}" if e.platform != "linux" else "")
        opts = "".join(f", `{k}={v!r}`" for k, v in e.options.items())
        out += ["", f"## {e.check}", "", f"**{e.title}.** {e.why}", "",
                f"Program ({where}{opts}):", "", "```asm", e.asm, "```", "",
                "Report:", "", "```text", report.text(), "```"]
    if NOT_SHOWN:
        out += ["", "## Checks without an example", ""]
        out += [f"- `{name}`: {reason}" for name, reason in sorted(NOT_SHOWN.items())]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUT.read_text() if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is stale: run python docs/gen_verifier.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
