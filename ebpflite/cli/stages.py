"""``ebpflite disasm --xlated | --ir | --jited``: the program as each engine stage sees it.

In the spirit of ``bpftool prog dump xlated`` and ``dump jited``:

- ``xlated``: the verifier's rewritten program (context accesses rewritten,
  dead code removed...), which is what both engines run for verified code,
  disassembled like any program; an unsafe program is reported as the
  verifier's :class:`~ebpflite.errors.VerifierError`.
- ``ir``: the optimised LLVM IR of the JIT (:func:`ebpflite.jit.views.ir_text`).
- ``jited``: the host assembly, annotated with ``; eBPF pc n``
  (:func:`ebpflite.jit.views.native_asm`).

The engine views are asked of the runtime by name (``runtime.engines.view``),
so the CLI does not depend on the JIT being there.

The IR and native views compile the program as given, in checked mode unless
it is marked verified (what ``JitProgram`` would do with it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ebpflite.vm.program import Program

KINDS = ("xlated", "ir", "jited")


def render(program: Program, kind: str, *, platform: str | None = None) -> str:
    """The ``kind`` view of ``program`` as text (``kind`` in :data:`KINDS`)."""
    if kind == "xlated":
        return xlated_listing(program, platform=platform)
    if kind in ("ir", "jited"):
        from ebpflite.runtime.engines import view

        return view(kind, program)
    raise ValueError(f"unknown listing kind {kind!r} (choose from {', '.join(KINDS)})")


def xlated_listing(program: Program, *, platform: str | None = None) -> str:
    """The verifier's xlated program, disassembled (raises VerifierError when it is unsafe)."""
    from ebpflite.verifier import check
    from ebpflite.vm.disasm import disassemble, helper_names

    xlated = check(program)
    platform = platform or program.platform
    lines = disassemble(xlated, "llvm", listing=True, helper_name=helper_names(platform), platform=platform)
    header = f"; {xlated.name or 'program'}: xlated by the verifier, {len(xlated.insns)} instructions"
    return "\n".join([header, *lines]) + "\n"
