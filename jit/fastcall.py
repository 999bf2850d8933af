"""A native Python builtin that runs JITed code, in place of a ctypes call.

``JitProgram.run`` spent most of its ~1.3 us in ctypes: converting the argument,
releasing and taking the GIL, boxing the status, plus five word writes through
a ctypes array. Here LLVM itself (no C compiler at run time: a fresh machine
may have only Python) builds one ``METH_FASTCALL`` function::

    run(r1, r2, r3, r4, r5, budget) -> RunResult | int

wrapped as a builtin with ``PyCFunction_NewEx`` through ``ctypes.pythonapi``.
Its ``self`` is an int holding the address of a preallocated *block* of u64
words (:class:`Word`): the run context, the native ``ebpf_run`` and what is
needed to build the result. It writes r1..r5 (masked to 64 bits, as ``& M64``
does, through ``__index__`` for int-like objects) and the budget into the run context, calls
``ebpf_run`` with the GIL released (helpers called back from native code take
it again, as under ctypes), and returns a new ``RunResult(r0, count, None)``
when the status is OK, else the status as an int for the Python side to turn
into the interpreter's exception. A wrong argument count or a non-integer
argument raises ``TypeError``; nothing reaches native code unchecked.

The function does not depend on the program (the block says which code to
run), so it is compiled once per process (a few milliseconds). Where the
Python C API cannot be reached (``ctypes.pythonapi`` lacks a symbol, an
interpreter other than CPython) :func:`available` is False and the JIT keeps
its ctypes path.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from enum import IntEnum

import llvmlite.ir as ir

from ebpflite.jit.abi import Ctx
from ebpflite.vm.env import RunResult

I32 = ir.IntType(32)
I64 = ir.IntType(64)
PTR = ir.PointerType()
NAME = "ebpflite_fastcall"


class Word(IntEnum):
    """u64 words of a fastcall block (one per JitProgram)."""

    CTX = 0  #: address of the run context
    RUN = 1  #: address of ``u64 ebpf_run(ctx*)``
    #: instructions run by helper callbacks (bpf_loop...) during this run, added to the count
    CALLBACK_INSNS = 2


BLOCK_WORDS = 3

#: C API functions the builtin calls: name -> (return type, argument types, variadic)
_API = {
    "PyLong_AsVoidPtr": (PTR, [PTR]),
    "PyLong_AsUnsignedLongLongMask": (I64, [PTR]),
    "PyLong_FromUnsignedLongLong": (PTR, [I64]),
    "PyErr_Occurred": (PTR, []),
    "PyErr_SetString": (ir.VoidType(), [PTR, PTR]),
    "PyType_GenericNew": (PTR, [PTR, PTR, PTR]),
    "PyObject_SetAttr": (I32, [PTR, PTR, PTR]),
    "Py_DecRef": (ir.VoidType(), [PTR]),
    "PyEval_SaveThread": (PTR, []),
    "PyEval_RestoreThread": (ir.VoidType(), [PTR]),
}
#: Python objects whose addresses the code embeds (kept alive by this module)
_NAMES = ("r0", "insns_executed", "trace")
ARGS = 6  #: r1..r5, budget
_ARGS_MESSAGE = b"a JIT run builtin takes exactly 6 integer arguments (r1..r5, budget)\0"

_lock = threading.Lock()
_state: dict = {}


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p), ("ml_flags", ctypes.c_int),
                ("ml_doc", ctypes.c_char_p)]


METH_FASTCALL = 0x80


def _objects() -> dict[str, int]:
    """Addresses of the objects the code uses; the objects stay referenced from ``_state``."""
    names = tuple(sys.intern(n) for n in _NAMES)
    message = ctypes.create_string_buffer(_ARGS_MESSAGE)
    _state["keep"] = (names, message, RunResult, TypeError, None)
    return {"names": [id(n) for n in names], "type": id(RunResult), "none": id(None),
            "type_error": id(TypeError), "message": ctypes.addressof(message)}


def build_module(objects: dict[str, int]) -> ir.Module:
    """``PyObject *ebpflite_fastcall(PyObject *self, PyObject *const *args, Py_ssize_t n)``
    (the module docstring says what it does)."""
    module = ir.Module(name="ebpflite_fastcall")
    api = {name: ir.Function(module, ir.FunctionType(ret, args), name) for name, (ret, args) in _API.items()}
    fn = ir.Function(module, ir.FunctionType(PTR, [PTR, PTR, I64]), NAME)
    this, args, nargs = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def const_ptr(address: int):
        return ir.Constant(I64, address).inttoptr(PTR)

    def word(base, index: int):
        return b.load(b.gep(base, [ir.Constant(I64, index)], source_etype=I64), typ=I64)

    def fail_type_error():
        b.call(api["PyErr_SetString"], [const_ptr(objects["type_error"]), const_ptr(objects["message"])])
        b.ret(ir.Constant(PTR, None))

    bad_count = fn.append_basic_block("bad_count")
    counted = fn.append_basic_block("counted")
    b.cbranch(b.icmp_signed("!=", nargs, ir.Constant(I64, ARGS)), bad_count, counted)
    b.position_at_end(bad_count)
    fail_type_error()
    b.position_at_end(counted)
    block = b.call(api["PyLong_AsVoidPtr"], [this])
    ctx = b.inttoptr(word(block, Word.CTX), PTR)
    for i, slot in enumerate([Ctx.REG0 + 1 + i for i in range(5)] + [Ctx.BUDGET]):
        arg = b.load(b.gep(args, [ir.Constant(I64, i)], source_etype=PTR), typ=PTR)
        value = b.call(api["PyLong_AsUnsignedLongLongMask"], [arg])
        maybe = fn.append_basic_block(f"maybe_error_{i}")
        error = fn.append_basic_block(f"error_{i}")
        ok = fn.append_basic_block(f"arg_{i}")
        b.cbranch(b.icmp_unsigned("==", value, ir.Constant(I64, (1 << 64) - 1)), maybe, ok)
        b.position_at_end(maybe)
        b.cbranch(b.icmp_unsigned("!=", b.ptrtoint(b.call(api["PyErr_Occurred"], []), I64),
                                  ir.Constant(I64, 0)), error, ok)
        b.position_at_end(error)
        b.ret(ir.Constant(PTR, None))  # TypeError (or OverflowError...) already set
        b.position_at_end(ok)
        b.store(value, b.gep(ctx, [ir.Constant(I64, slot)], source_etype=I64))
    run_type = ir.FunctionType(I64, [PTR])
    run = b.inttoptr(word(block, Word.RUN), run_type.as_pointer())
    saved = b.call(api["PyEval_SaveThread"], [])
    status = b.call(run, [ctx])
    b.call(api["PyEval_RestoreThread"], [saved])
    failed = fn.append_basic_block("failed")
    done = fn.append_basic_block("done")
    b.cbranch(b.icmp_unsigned("!=", status, ir.Constant(I64, 0)), failed, done)
    b.position_at_end(failed)
    b.ret(b.call(api["PyLong_FromUnsignedLongLong"], [status]))
    b.position_at_end(done)
    r0 = word(ctx, Ctx.REG0)
    count = b.add(word(ctx, Ctx.COUNT), word(block, Word.CALLBACK_INSNS))
    result = b.call(api["PyType_GenericNew"], [const_ptr(objects["type"]), ir.Constant(PTR, None),
                                              ir.Constant(PTR, None)])
    no_result = fn.append_basic_block("no_result")
    fill = fn.append_basic_block("fill")
    b.cbranch(b.icmp_unsigned("==", b.ptrtoint(result, I64), ir.Constant(I64, 0)), no_result, fill)
    b.position_at_end(no_result)
    b.ret(ir.Constant(PTR, None))
    b.position_at_end(fill)
    failed_set = fn.append_basic_block("failed_set")
    values = [b.call(api["PyLong_FromUnsignedLongLong"], [value]) for value in (r0, count)]
    errors = b.or_(b.icmp_unsigned("==", b.ptrtoint(values[0], I64), ir.Constant(I64, 0)),
                   b.icmp_unsigned("==", b.ptrtoint(values[1], I64), ir.Constant(I64, 0)))
    boxed = fn.append_basic_block("boxed")
    b.cbranch(errors, failed_set, boxed)  # MemoryError set; Py_DecRef below is NULL-safe
    b.position_at_end(boxed)
    status_sum = ir.Constant(I32, 0)
    for name, value in zip(objects["names"], [*values, const_ptr(objects["none"])], strict=True):
        status_sum = b.or_(status_sum, b.call(api["PyObject_SetAttr"], [result, const_ptr(name), value]))
    ok = fn.append_basic_block("ok")
    b.cbranch(b.icmp_signed("!=", status_sum, ir.Constant(I32, 0)), failed_set, ok)
    b.position_at_end(failed_set)
    for value in values:
        b.call(api["Py_DecRef"], [value])
    b.call(api["Py_DecRef"], [result])
    b.ret(ir.Constant(PTR, None))
    b.position_at_end(ok)
    for value in values:  # the result holds its own references now
        b.call(api["Py_DecRef"], [value])
    b.ret(result)
    return module


def _compile() -> int:
    """Address of the compiled builtin function (once per process)."""
    import llvmlite.binding as llvm

    from ebpflite.jit.cache import new_target_machine

    api = ctypes.pythonapi
    for name in _API:
        llvm.add_symbol(name, ctypes.cast(getattr(api, name), ctypes.c_void_p).value)
    module = llvm.parse_assembly(str(build_module(_objects())))
    module.verify()
    engine = llvm.create_mcjit_compiler(module, new_target_machine(2))
    engine.finalize_object()
    _state["engine"] = engine
    return engine.get_function_address(NAME)


def _method_def() -> _MethodDef | None:
    with _lock:
        if "def" not in _state:
            try:
                if sys.implementation.name != "cpython":
                    raise OSError("not CPython")
                address = _compile()
                api = ctypes.pythonapi
                api.PyCFunction_NewEx.restype = ctypes.py_object
                api.PyCFunction_NewEx.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.c_void_p]
                _state["def"] = _MethodDef(b"run", address, METH_FASTCALL,
                                           b"run(r1, r2, r3, r4, r5, budget): JITed code through a fastcall block")
            except (OSError, AttributeError, RuntimeError) as exc:  # no C API: keep the ctypes path
                _state["def"] = None
                _state["why"] = f"{type(exc).__name__}: {exc}"
        return _state["def"]


def available() -> bool:
    """Can builtins be made here (CPython with its C API reachable through ctypes)?"""
    return _method_def() is not None


def make(block_address: int):
    """A builtin ``run(r1, r2, r3, r4, r5, budget)`` running the code that the block at
    ``block_address`` describes; the caller keeps the block alive as long as the builtin."""
    method = _method_def()
    if method is None:
        raise RuntimeError(f"fastcall builtins are unavailable here ({_state.get('why')})")
    return ctypes.pythonapi.PyCFunction_NewEx(ctypes.addressof(method), block_address, None)
