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
``ebpf_run`` (with the GIL released unless the code is straight-line: helpers
called back from native code take it again, as under ctypes), and returns a new ``RunResult(r0, count, None)``
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
    #: 1: release the GIL while native code runs (it may loop or call helpers: other threads
    #: go on meanwhile, as under ctypes); 0 for straight-line code, which is over in
    #: nanoseconds, so that releasing and taking the GIL (~0.1 us) would be most of the call
    RELEASE_GIL = 3


BLOCK_WORDS = 4

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
ARGS = 6  #: r1..r5, budget
_ARGS_MESSAGE = b"a JIT run builtin takes exactly 6 integer arguments (r1..r5, budget)\0"
#: the global array of the addresses the code needs, filled after loading: keeping them out
#: of the code makes the object file the same in every process, so the disk cache keeps it
CONSTS_NAME = "ebpflite_fastcall_consts"


class Const(IntEnum):
    """Words of the constants array."""

    TYPE = 0  #: RunResult
    NAME_R0 = 1  #: the interned attribute names of RunResult's fields
    NAME_COUNT = 2
    NAME_TRACE = 3
    NONE = 4
    TYPE_ERROR = 5
    MESSAGE = 6  #: the argument-count error message (a C string)


_lock = threading.Lock()
_state: dict = {}


class _MethodDef(ctypes.Structure):
    _fields_ = [("ml_name", ctypes.c_char_p), ("ml_meth", ctypes.c_void_p), ("ml_flags", ctypes.c_int),
                ("ml_doc", ctypes.c_char_p)]


METH_FASTCALL = 0x80


def _constants() -> list[int]:
    """The words of the constants array; the objects stay referenced from ``_state``."""
    names = tuple(sys.intern(n) for n in ("r0", "insns_executed", "trace"))
    message = ctypes.create_string_buffer(_ARGS_MESSAGE)
    _state["keep"] = (names, message, RunResult, TypeError, None)
    words = {Const.TYPE: id(RunResult), Const.NAME_R0: id(names[0]), Const.NAME_COUNT: id(names[1]),
             Const.NAME_TRACE: id(names[2]), Const.NONE: id(None), Const.TYPE_ERROR: id(TypeError),
             Const.MESSAGE: ctypes.addressof(message)}
    return [words[c] for c in Const]


def build_module() -> ir.Module:
    """``PyObject *ebpflite_fastcall(PyObject *self, PyObject *const *args, Py_ssize_t n)``
    (the module docstring says what it does)."""
    module = ir.Module(name="ebpflite_fastcall")
    api = {name: ir.Function(module, ir.FunctionType(ret, args), name) for name, (ret, args) in _API.items()}
    consts = ir.GlobalVariable(module, ir.ArrayType(I64, len(Const)), CONSTS_NAME)
    consts.initializer = ir.Constant(ir.ArrayType(I64, len(Const)), None)
    fn = ir.Function(module, ir.FunctionType(PTR, [PTR, PTR, I64]), NAME)
    this, args, nargs = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def word(base, index: int):
        return b.load(b.gep(base, [ir.Constant(I64, index)], source_etype=I64), typ=I64)

    def const_ptr(index: Const):
        return b.inttoptr(word(consts, index), PTR)

    def fail_type_error():
        b.call(api["PyErr_SetString"], [const_ptr(Const.TYPE_ERROR), const_ptr(Const.MESSAGE)])
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
    released = fn.append_basic_block("release_gil")
    held = fn.append_basic_block("hold_gil")
    ran = fn.append_basic_block("ran")
    b.cbranch(b.icmp_unsigned("!=", word(block, Word.RELEASE_GIL), ir.Constant(I64, 0)), released, held)
    b.position_at_end(released)
    saved = b.call(api["PyEval_SaveThread"], [])
    status_released = b.call(run, [ctx])
    b.call(api["PyEval_RestoreThread"], [saved])
    b.branch(ran)
    b.position_at_end(held)
    status_held = b.call(run, [ctx])
    b.branch(ran)
    b.position_at_end(ran)
    status = b.phi(I64)
    status.add_incoming(status_released, released)
    status.add_incoming(status_held, held)
    failed = fn.append_basic_block("failed")
    done = fn.append_basic_block("done")
    b.cbranch(b.icmp_unsigned("!=", status, ir.Constant(I64, 0)), failed, done)
    b.position_at_end(failed)
    b.ret(b.call(api["PyLong_FromUnsignedLongLong"], [status]))
    b.position_at_end(done)
    r0 = word(ctx, Ctx.REG0)
    count = b.add(word(ctx, Ctx.COUNT), word(block, Word.CALLBACK_INSNS))
    result = b.call(api["PyType_GenericNew"], [const_ptr(Const.TYPE), ir.Constant(PTR, None),
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
    names = (Const.NAME_R0, Const.NAME_COUNT, Const.NAME_TRACE)
    for name, value in zip(names, [*values, const_ptr(Const.NONE)], strict=True):
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
    """Address of the builtin function, compiled (or loaded from the JIT's disk cache: the
    object file holds no address of this process) once per process."""
    import hashlib

    import llvmlite.binding as llvm

    from ebpflite.jit.cache import _empty_module, new_target_machine
    from ebpflite.jit.diskcache import DiskCache, default_directory, source_fingerprint, toolchain_fingerprint

    api = ctypes.pythonapi
    for name in _API:
        llvm.add_symbol(name, ctypes.cast(getattr(api, name), ctypes.c_void_p).value)
    key = hashlib.sha256(f"{NAME}|{source_fingerprint()}|{toolchain_fingerprint()}".encode()).hexdigest()
    directory = default_directory()
    disk = DiskCache(directory) if directory is not None else None
    obj = disk.load(key) if disk is not None else None
    for attempt in (obj, None):
        if attempt is None:
            module = llvm.parse_assembly(str(build_module()))
            module.verify()
        else:
            module = _empty_module(key)
        engine = llvm.create_mcjit_compiler(module, new_target_machine(2))
        if disk is not None:
            engine.set_object_cache(_store_to(disk, key) if attempt is None else None,
                                    lambda _m, data=attempt: data)
        engine.finalize_object()
        function, consts = engine.get_function_address(NAME), engine.get_global_value_address(CONSTS_NAME)
        if function and consts:
            break
    (ctypes.c_uint64 * len(Const)).from_address(consts)[:] = _constants()
    _state["engine"] = engine
    _state["from_disk"] = attempt is not None
    return function


def _store_to(disk, key: str):
    return lambda _module, data: disk.store(key, data)


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
