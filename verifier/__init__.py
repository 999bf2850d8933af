"""ebpflite.verifier: static proof of memory safety and termination, and the xlated program.

``verify(program)`` returns a :class:`~ebpflite.verifier.report.Report`;
``check(program)`` returns the xlated program (a copy marked
``verified=True`` that engines may run without runtime checks) or raises
:class:`~ebpflite.errors.VerifierError` carrying the report.

How it works: ``cfg`` splits the program into functions, blocks and loops;
``fixpoint`` runs the transfer functions of ``transfer`` over them on the
abstract states of ``state`` (numbers from ``domain``); ``checks`` holds
the safety conditions and ``contexts`` the per-program-type context
layouts; ``report`` formats what was found. See README.md in this folder
for where we deliberately differ from the kernel.
"""

from __future__ import annotations

from dataclasses import replace

from ebpflite.helpers import registry
from ebpflite.loader.progtypes import require_type
from ebpflite.verifier import cfg as cfgmod
from ebpflite.verifier import dialect, xlate
from ebpflite.verifier.domain import ZERO
from ebpflite.verifier.fixpoint import COMPLEXITY_LIMIT, Analyzer
from ebpflite.verifier.report import Finding, Report
from ebpflite.verifier.state import T, Value, entry_state
from ebpflite.verifier.stats import program_stats
from ebpflite.verifier.subprogs import global_functions
from ebpflite.verifier.transfer import Machine
from ebpflite.vm.contexts import attach_of, descriptor
from ebpflite.vm.errors import VerifierError
from ebpflite.vm.program import Program

__all__ = ["verify", "check", "Report", "Finding", "program_stats"]


def verify(program: Program, *, prog_type: str | None = None, platform: str | None = None,
           all_errors: bool = False, verbose: bool = False, max_insns: int = COMPLEXITY_LIMIT,
           max_states: int | None = None, memory_size: int | None = None) -> Report:
    """Analyse ``program``; the report says whether it is safe and, if not, why.

    ``prog_type``/``platform`` override the program's own (from its section).
    ``memory_size`` verifies a raw program run on a memory buffer (``ebpflite
    run --mem``, the conformance suite's convention) instead of a context:
    r1 points to ``memory_size`` writable bytes (0: r1 is 0) and r2 holds
    ``memory_size``.
    ``all_errors`` keeps going after the first error (each failing path stops
    at its error); ``verbose`` records pre/post invariants per instruction.
    ``max_insns`` is the complexity limit (instructions processed, the kernel's
    1,000,000 by default); ``max_states`` how many paths are kept apart where
    they meet (``fixpoint.MAX_STATES`` by default) before the closest are joined.
    """
    if prog_type is not None or platform is not None:
        program = replace(program, prog_type=prog_type or program.prog_type,
                          platform=platform or program.platform)
    if program.platform not in registry.PLATFORMS:
        raise VerifierError(f"unknown platform {program.platform!r} (choose from "
                            f"{', '.join(registry.PLATFORMS)})")
    if memory_size is None:
        require_type(program)  # an object's section that names no type: LoaderError saying to choose one
    report = Report(program)
    try:
        report.stats = program_stats(program)
    except Exception:  # noqa: BLE001 - statistics are informative only
        report.stats = {}
    graph = cfgmod.build(program.insns, dict(program.functions or {}))
    rules = dialect.rules(program.platform)
    dead: list[Finding] = []
    for pc, text in graph.notes:
        if rules.unreachable_is_error:  # the kernel's check_cfg: "unreachable insn N"
            dead.append(_locate(program, Finding(
                pc, f"{text}; {rules.verifier} refuses programs with unreachable instructions",
                "every instruction is reachable", {}, "remove the dead code (or the asm that jumps over it)",
                check="unreachable")))
        else:
            report.notes.append(_locate(program, Finding(pc, text, check="unreachable")))
    if graph.problems or dead:
        for p in graph.problems:
            report.errors.append(_locate(program, Finding(p.pc, p.message, p.formula, {}, p.hint, check="cfg")))
        report.errors += dead
        if not all_errors:
            del report.errors[1:]
        return report
    ctx = descriptor(program.prog_type, program.platform, attach_of(program.section))
    global_funcs, problems = global_functions(program, ctx.name)
    if problems:
        report.errors = [_locate(program, f) for f in problems[:None if all_errors else 1]]
        return report
    machine = Machine(program, ctx, registry.profile(program.platform), lambda *a: None)
    machine.global_functions = global_funcs
    analyzer = Analyzer(graph, machine, all_errors=all_errors, verbose=verbose, max_insns=max_insns,
                        max_states=max_states)
    analyzer.run(entry_state(Value(T.CTX, ZERO)) if memory_size is None else _memory_entry(memory_size))
    report.errors = sorted((_locate(program, f) for f in analyzer.errors), key=lambda f: f.pc)
    for pc, text in sorted(machine.notes.items()):
        report.notes.append(_locate(program, Finding(pc, text, check="uninit_stack")))
    report.processed = analyzer.processed
    report.loop_bounds = dict(analyzer.loop_bounds)
    if report.ok:
        report.max_insns = analyzer.max_count or 0
        try:
            xlated = xlate.rewrite(program, machine.ctx, machine.ctx_stores, machine.other_stores)
        except xlate.XlateConflict as exc:
            report.errors.append(_locate(program, Finding(exc.pc, str(exc), check="ctx_access")))
            return report
        report.xlated = replace(xlated, insns=list(xlated.insns), verified=True,
                                meta={**program.meta, "max_insns": report.max_insns})
    if verbose:
        report.invariants = {pc: (describe_state(analyzer.pre[pc]),
                                  describe_state(analyzer.post[pc]) if pc in analyzer.post else [])
                             for pc in analyzer.pre}
    return report


def _memory_entry(size: int):
    """Entry state of a raw program: r1 = the memory buffer (or 0 without one), r2 = its size."""
    if not 0 <= size < 1 << 29:
        raise VerifierError(f"memory size {size} is out of range (0 to {(1 << 29) - 1})")
    st = entry_state(Value(T.MEM, ZERO, 0, 0, size, -1) if size else Value.const(0))
    st.regs[2] = Value.const(size)
    return st


def check(program: Program, **options) -> Program:
    """The xlated program, or :class:`VerifierError` (with ``.report``) if it is unsafe."""
    report = verify(program, **options)
    if not report.ok:
        first = report.errors[0]
        raise VerifierError(f"verification of {program.name} failed: {first.text()}", report)
    assert report.xlated is not None
    return report.xlated


def _locate(program: Program, finding: Finding) -> Finding:
    """Attach the source line: the line info entry at the pc, or the closest one before it."""
    if finding.source is None and program.line_info:
        lines = program.line_info
        if finding.pc in lines:
            finding.source = lines[finding.pc]
        else:
            before = [pc for pc in lines if pc <= finding.pc]
            if before:
                finding.source = lines[max(before)]
    return finding


def describe_state(st) -> list[str]:
    """Invariant text for -v: registers with types, offsets and ranges, then the stack."""
    out = []
    for r, v in enumerate(st.regs):
        if v.type is not T.NOT_INIT:
            out.append(f"r{r}: {v.describe()}")
    out.extend(f"stack{s}" for s in st.describe_stack())
    if len(st.frames) > 1:
        out.append(f"call depth {len(st.frames)}")
    out.append(f"insns <= {st.count}")
    return out
