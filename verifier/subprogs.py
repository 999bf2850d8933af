"""Global subprograms: what the kernel requires of functions with BTF linkage ``global``.

The kernel verifies a global (non-static) function once, on its own, from
the argument types its BTF declares, and at each call site only checks the
arguments and takes an unknown number back. So a global function must
return a number: ``int``, an enum (``btf_prepare_func_args``: "Global
function f() doesn't return scalar. Only those are supported."); a pointer,
a struct or ``void`` is refused. ebpflite analyses every function per call
site, which would happily follow a returned pointer; this check keeps it from
accepting what the kernel refuses. Static functions (and programs without
BTF, where the kernel sees no linkage) are not concerned.
"""

from __future__ import annotations

from ebpflite.verifier.report import Finding
from ebpflite.vm.isa import Kind
from ebpflite.vm.program import Program

_SCALAR_KINDS = ("INT", "ENUM", "ENUM64")


def global_function_findings(program: Program) -> list[Finding]:
    """A finding for every global subprogram whose BTF return type is not a number."""
    btf = (program.meta or {}).get("btf")
    if btf is None:
        return []
    funcs = btf.functions()
    out = []
    for pc, name in sorted((program.functions or {}).items()):
        func = funcs.get(name)
        if pc == 0 or func is None or func.vlen != 1:  # vlen of a FUNC is its linkage: 1 = global
            continue
        proto = btf.resolve(func.type_id)
        ret = btf.resolve(proto.type_id) if proto is not None and proto.kind.name == "FUNC_PROTO" else None
        if ret is not None and ret.kind.name in _SCALAR_KINDS:
            continue
        returns = "void" if ret is None else btf.type_name(proto.type_id)
        calls = [i.pc for i in program.insns if i.kind is Kind.CALL_LOCAL and i.target == pc]
        out.append(Finding(calls[0] if calls else pc,
                           f"global function {name}() returns {returns}, but global functions must return a "
                           "number (int or enum)", f"return_type({name}) is scalar",
                           hint=f"make {name} static (the kernel then checks it at each call, as ebpflite "
                           "does), or return an int", check="global_func"))
    return out
