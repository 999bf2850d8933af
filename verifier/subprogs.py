"""Global subprograms: functions with BTF linkage ``global``, verified as the kernel verifies them.

The kernel verifies a global (non-static) function once, on its own, from
the argument types its BTF declares (``btf_prepare_func_args``), and at each
call site only checks the arguments against those types and takes an unknown
number back. So, unlike a static function, a global function cannot rely on
what its callers pass:

- an ``int``/enum argument is any number;
- a pointer to the program type's context structure is the context;
- a pointer to anything else of known size (``int *``, ``struct foo *``) is
  that many bytes of memory *or NULL*: the function must check it;
- other arguments (``void *``, a struct by value) are refused, as is a
  return type other than a number (``void`` included, on Linux 6.18).

ebpflite's analysis of static functions per call site would accept a global
function that dereferences an argument without a NULL check, or returns a
pointer; this module gives the analyzer (``fixpoint.call_function``) the
kernel's view instead. Programs without BTF (where the kernel sees no
linkage) have no global functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from ebpflite.verifier.report import Finding
from ebpflite.vm.errors import BTFError
from ebpflite.vm.isa import Kind
from ebpflite.vm.program import Program

_SCALAR_KINDS = ("INT", "ENUM", "ENUM64")
MAX_ARGS = 5


@dataclass(frozen=True)
class Param:
    """One argument of a global function: ``scalar``, ``ctx`` or ``mem`` (``size`` bytes, or NULL)."""

    kind: str
    size: int = 0


@dataclass(frozen=True)
class GlobalFunc:
    name: str
    params: tuple[Param, ...]


def global_functions(program: Program, ctx_struct: str) -> tuple[dict[int, GlobalFunc], list[Finding]]:
    """The program's global functions by entry pc, and a finding for each one the kernel would refuse.

    ``ctx_struct`` names the program type's context structure (``__sk_buff``): a
    pointer to it is the context argument.
    """
    btf = (program.meta or {}).get("btf")
    if btf is None:
        return {}, []
    funcs = btf.functions()
    found: dict[int, GlobalFunc] = {}
    problems: list[Finding] = []
    for pc, name in sorted((program.functions or {}).items()):
        func = funcs.get(name)
        if pc == 0 or func is None or func.vlen != 1:  # vlen of a FUNC is its linkage: 1 = global
            continue
        calls = [i.pc for i in program.insns if i.kind is Kind.CALL_LOCAL and i.target == pc]
        where = calls[0] if calls else pc
        try:
            sig, why = _signature(btf, name, func.type_id, ctx_struct)
        except BTFError as exc:
            sig, why = None, f"its BTF cannot be read ({exc})"
        if why is not None:
            problems.append(Finding(where, f"global function {name}() {why}", f"kernel_can_verify({name})",
                                    hint=f"make {name} static (the kernel then checks it at each call, as "
                                    "ebpflite does), or change its signature", check="global_func"))
        elif sig is not None:
            found[pc] = sig
    return found, problems


def _signature(btf, name: str, type_id: int, ctx_struct: str) -> tuple[GlobalFunc | None, str | None]:
    proto = btf.resolve(type_id)
    if proto is None or proto.kind.name != "FUNC_PROTO":
        return None, "has no prototype in the BTF"
    ret = btf.resolve(proto.type_id)
    if ret is None or ret.kind.name not in _SCALAR_KINDS:
        returns = "void" if ret is None else btf.type_name(proto.type_id)
        return None, f"returns {returns}, but global functions must return a number (int or enum)"
    if len(proto.members) > MAX_ARGS:
        return None, f"takes {len(proto.members)} arguments; a BPF function takes at most {MAX_ARGS}"
    params = []
    for i, arg in enumerate(proto.members, start=1):
        t = btf.resolve(arg.type_id)
        if t is not None and t.kind.name in _SCALAR_KINDS:
            params.append(Param("scalar"))
            continue
        if t is None or t.kind.name != "PTR":
            return None, f"takes argument {i} ({btf.type_name(arg.type_id)}) by value, which the kernel does " \
                         "not support for global functions"
        pointee = btf.resolve(t.type_id)
        if pointee is not None and pointee.kind.name == "STRUCT" and pointee.name == ctx_struct:
            params.append(Param("ctx"))
            continue
        try:
            size = btf.size_of(t.type_id) if pointee is not None and pointee.kind.name != "FUNC_PROTO" else 0
        except BTFError:
            size = 0
        if size <= 0:
            return None, f"takes argument {i} as {btf.type_name(arg.type_id)}, whose size the kernel cannot " \
                         "determine (a global function's pointer arguments must point to sized types)"
        params.append(Param("mem", size))
    return GlobalFunc(name, tuple(params)), None


# --- calls and entry -----------------------------------------------------------------------------------


def check_call(m, st, sig: GlobalFunc, pc: int) -> None:
    """The caller passes what ``sig`` declares (btf_check_func_arg_match): numbers, the unmoved context,
    NULL or ``size`` bytes the callee may read and write (the caller's bytes count as written after)."""
    from ebpflite.verifier import checks
    from ebpflite.verifier.domain import ZERO, Scalar
    from ebpflite.verifier.state import NULLABLE, T

    for r, param in enumerate(sig.params, start=1):
        what = f"argument {r} of global function {sig.name}()"
        if param.kind == "scalar":
            checks.require_number(st, r, pc, what)
            continue
        v = checks.read_reg(st, r, pc, what)
        if param.kind == "ctx":
            if v.type is not T.CTX or v.off or v.num != ZERO:
                raise checks.fail(pc, "global_func", f"{what} must be the context pointer, not {v.describe()}",
                                  f"r{r}.type == ctx && r{r}.offset == 0", **{f"r{r}": v})
            continue
        if v.type is T.SCALAR and v.num == ZERO:
            continue  # NULL: the function must check for it anyway
        if v.type is T.SCALAR or not v.is_pointer:
            raise checks.fail(pc, "global_func", f"{what} must point to {param.size} bytes of memory (or be "
                              f"NULL), not {v.describe()}", f"r{r} is memory or NULL", **{f"r{r}": v})
        if v.type in NULLABLE:  # NULL or memory: the parameter may be NULL too; check the memory
            st.regs[r] = v._replace(type=NULLABLE[v.type])
        try:
            checks.check_mem_arg(m, st, r, Scalar.const(param.size), True, pc, f"{what} ({param.size} bytes)")
        finally:
            st.regs[r] = v


def entry_args(sig: GlobalFunc, st, pc: int) -> list:
    """r1.. of the function's own analysis: what its BTF promises, no more (memory may be NULL)."""
    from ebpflite.verifier.domain import ZERO
    from ebpflite.verifier.state import UNKNOWN, T, Value

    args = []
    for param in sig.params:
        if param.kind == "scalar":
            args.append(UNKNOWN)
        elif param.kind == "ctx":
            args.append(Value(T.CTX, ZERO))
        else:
            args.append(Value(T.MEM_OR_NULL, ZERO, 0, st.fresh_id(pc), param.size, -1))
    return args
