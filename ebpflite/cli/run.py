"""``ebpflite run`` and ``ebpflite conformance-plugin``: execute bytecode directly.

``run`` executes raw bytecode or an assembly file with r1 pointing to an
optional input memory and r2 holding its length (the conformance suite's
convention), on the interpreter, the JIT, or both compared.

``conformance-plugin`` implements the plugin protocol of the public
conformance suite's runner (bpf_conformance): memory as one hex argument,
the program as hex on standard input, r0 printed in hex and exit status 0, or
the error message on standard error and a non-zero status.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ebpflite.errors import EbpfError, EngineMismatch
from ebpflite.vm.limits import DEFAULT_BUDGET

if TYPE_CHECKING:  # the VM (numpy underneath) is imported by the commands that run something
    from ebpflite.runtime.engines import RunResult
    from ebpflite.vm.program import Program



# --- inputs ---------------------------------------------------------------------------------


def parse_hex(text: str, what: str) -> bytes:
    """Hex bytes with any white space between them (the suite writes ``aa  bb  ``)."""
    compact = "".join(text.split())
    try:
        return bytes.fromhex(compact)
    except ValueError:
        raise click.BadParameter(f"{what} is not hex bytes: {text.strip()[:60]!r}") from None


def load_program(path: Path) -> Program:
    """Raw little-endian bytecode, hex text or assembly (``ebpflite.loader.load_program``
    tells them apart); not an object file, whose programs need their maps."""
    from ebpflite.loader import load_program as load

    with path.open("rb") as f:
        if f.read(4) == b"\x7fELF":
            raise click.BadParameter(f"{path} is an ELF object file; `run` takes raw bytecode or assembly "
                                     "(.s), use the object commands for .o files", param_hint="FILE")
    return load(path)


def _run_engine(engine: str, program: Program, mem: bytes, budget: int, trace: bool) -> tuple[RunResult, bytes]:
    """One run in a fresh environment; returns the result and the memory afterwards."""
    from ebpflite.runtime.engines import on_memory

    run = on_memory(program, mem, engine, budget=budget, **({"trace": True} if trace else {}))
    result = run.run()
    return result, run.memory()


def _jit_available() -> None:
    from ebpflite.runtime.engines import unavailable

    reason = unavailable("jit")
    if reason is not None:
        raise click.ClickException(f"the JIT engine is not available ({reason}); use --engine interp")


def compare(program: Program, mem: bytes, budget: int, trace: bool) -> RunResult:
    """Run both engines and raise :class:`EngineMismatch` at the first difference."""
    _jit_available()
    interp, interp_mem = _run_engine("interp", program, mem, budget, trace)
    jit, jit_mem = _run_engine("jit", program, mem, budget, False)
    if interp.r0 != jit.r0:
        raise EngineMismatch(f"r0 differs: interpreter {interp.r0:#x}, JIT {jit.r0:#x}")
    if interp_mem != jit_mem:
        at = next(i for i, (a, b) in enumerate(zip(interp_mem, jit_mem, strict=True)) if a != b)
        raise EngineMismatch(f"memory differs first at offset {at}: interpreter {interp_mem[at]:#04x}, "
                             f"JIT {jit_mem[at]:#04x}")
    if jit.insns_executed and interp.insns_executed != jit.insns_executed:
        raise EngineMismatch(f"instruction counts differ: interpreter {interp.insns_executed}, "
                             f"JIT {jit.insns_executed}")
    return interp


# --- output -------------------------------------------------------------------------------------


def _insn_text(entry: Any) -> str:
    """One traced instruction (a ``TraceEntry`` of the run's result) as disassembly."""
    from ebpflite.vm.disasm import format_insn

    try:
        return format_insn(entry.insn)
    except EbpfError:
        return entry.insn.spec.name


def format_trace(trace: list[Any]) -> list[str]:
    lines = []
    for entry in trace:
        changes = " ".join(f"{name}={value:#x}" for name, value in entry.changed.items())
        lines.append(f"{entry.pc:5d}: {_insn_text(entry):<32} {changes}".rstrip())
    return lines


def _trace_json(trace: list[Any]) -> list[dict]:
    return [{"pc": e.pc, "insn": _insn_text(e), "changed": e.changed} for e in trace]


# --- commands ----------------------------------------------------------------------------------


@click.command("run")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--mem", "mem_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File of hex bytes: the input memory (r1 points to it, r2 is its length).")
@click.option("--engine", type=click.Choice(["interp", "jit", "both"]), default="interp", show_default=True,
              help="Which engine runs the program; `both` compares them.")
@click.option("--trace", is_flag=True, help="Print every executed instruction and what it changed.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--budget", type=click.IntRange(min=1), default=DEFAULT_BUDGET, show_default=True,
              help="Maximum number of instructions to execute.")
@click.option("--verify/--no-verify", default=True, show_default=True,
              help="Verify first (r1 = the memory, r2 = its size), so the JIT runs without runtime checks; "
                   "--no-verify runs both engines in checked mode.")
def run_command(file: Path, mem_file: Path | None, engine: str, trace: bool, as_json: bool, budget: int,
                verify: bool) -> None:
    """Run raw bytecode or assembly FILE and print r0 (hex and decimal)."""
    program = load_program(file)
    mem = parse_hex(mem_file.read_text(), str(mem_file)) if mem_file else b""
    if trace and engine == "jit":
        raise click.UsageError("--trace needs the interpreter (--engine interp or both)")
    if engine != "interp":
        _jit_available()
    if verify:
        from ebpflite import verifier

        program = verifier.check(program, memory_size=len(mem))
    try:
        if engine == "both":
            result = compare(program, mem, budget, trace)
        else:
            if engine == "jit":
                _jit_available()
            result, _ = _run_engine(engine, program, mem, budget, trace)
    except EbpfError as exc:
        partial = getattr(exc, "trace", None)
        if partial and not as_json:
            click.echo("\n".join(format_trace(partial)))
        raise
    if as_json:
        out = {"r0": result.r0, "r0_hex": f"{result.r0:#x}", "insns_executed": result.insns_executed,
               "engine": engine}
        if trace:
            out["trace"] = _trace_json(result.trace or [])
        click.echo(json.dumps(out, indent=2))
        return
    if trace:
        click.echo("\n".join(format_trace(result.trace or [])))
    click.echo(f"r0 = {result.r0:#x} ({result.r0})")
    click.echo(f"instructions executed: {result.insns_executed}")


@click.command("conformance-plugin")
@click.argument("memhex", required=False, default="")
@click.option("--engine", type=click.Choice(["interp", "jit"]), default="interp", show_default=True)
def conformance_plugin(memhex: str, engine: str) -> None:
    """The conformance suite's plugin: program hex on stdin, r0 in hex on stdout.

    MEMHEX is the input memory as hex bytes. Errors are printed on standard
    error with a non-zero exit status, as the suite's runner expects.
    """
    from ebpflite.runtime.engines import run_conformance

    try:
        mem = bytes.fromhex("".join(memhex.split()))
        code = bytes.fromhex("".join(sys.stdin.read().split()))
    except ValueError as exc:
        click.echo(f"invalid hex input: {exc}", err=True)
        sys.exit(2)
    try:
        if engine == "jit":
            _jit_available()
        r0 = run_conformance(code, mem, engine)
    except (EbpfError, click.ClickException) as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"{r0:#x}")


def register(group: click.Group) -> None:
    group.add_command(run_command)
    group.add_command(conformance_plugin)
