"""Compiling lowered modules to native code, and the compile caches.

Compiling is the expensive part of the JIT (lowering to IR in Python, LLVM's
passes and code generation: tens to hundreds of milliseconds per program),
while the machine code depends only on the program's bytes and the mode:
every run-specific address lives in the run context (:mod:`ebpflite.jit.abi`).
So compiled code is shared through two caches:

- in memory: one :class:`CompiledCode` (an MCJIT execution engine) per key,
  for the life of the process;
- on disk (:mod:`ebpflite.jit.diskcache`, on by default): the object file
  MCJIT produced, keyed by the same hash, so a later process skips lowering,
  optimisation and code generation. A hit gives MCJIT an empty module and the
  stored object; what the Python side needs of the lowering (the lddw table
  layout, the function entries) is recomputed from the instructions
  (:class:`CodeLayout`), and the full lowering is rebuilt only if something
  asks for it (views, the budget error's pc).

The key covers the program's instructions, the options, the pipeline, the
host CPU, the LLVM and llvmlite versions and the source of the code
generators; a map layout needs no place in it because lddw values are read
from the run context.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field

import llvmlite.binding as llvm

from ebpflite.jit.diskcache import DiskCache, default_directory, source_fingerprint, toolchain_fingerprint
from ebpflite.jit.lower import (
    BATCH_NAME,
    CALLFN_NAME,
    ENTRY_NAME,
    RUN_NAME,
    LowerOptions,
    ModuleLowering,
    lower_program,
)
from ebpflite.vm.cfg import function_starts
from ebpflite.vm.isa import Kind, PseudoSrc
from ebpflite.vm.program import Program

_lock = threading.Lock()
_initialised = False
_machines: dict[int, llvm.TargetMachine] = {}
_memory: dict[str, CompiledCode] = {}


def _init() -> None:
    global _initialised
    if not _initialised:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        _initialised = True


def new_target_machine(opt_level: int) -> llvm.TargetMachine:
    """A fresh target machine for the host CPU and its features.

    An MCJIT engine takes ownership of (and frees) the target machine it is
    given, so every engine needs its own.
    """
    _init()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=opt_level, jit=True)


def target_machine(opt_level: int) -> llvm.TargetMachine:
    """A shared target machine per level, for pass pipelines and assembly (never given to an engine)."""
    tm = _machines.get(opt_level)
    if tm is None:
        tm = _machines[opt_level] = new_target_machine(opt_level)
    return tm


@dataclass(frozen=True)
class CodeLayout:
    """What the Python side needs of a lowering, recomputed from the instructions alone
    (a disk-cache hit has no lowering): the same rules as :class:`ModuleLowering`."""

    lddw_slots: dict[int, int]  #: pc of each map/code lddw -> its index in the lddw table
    functions: frozenset[int]  #: entry pcs of the program's functions

    @classmethod
    def of(cls, program: Program) -> CodeLayout:
        slots: dict[int, int] = {}
        for insn in program.insns:
            if insn.kind is Kind.LDDW and insn.spec.extra != PseudoSrc.IMM64:
                slots[insn.pc] = len(slots)
        pcs = {insn.pc for insn in program.insns}
        return cls(slots, frozenset(pc for pc in function_starts(program.insns) if pc in pcs))


@dataclass
class CompiledCode:
    """Native code for one (program, options, pipeline), ready to call."""

    key: str
    engine: llvm.ExecutionEngine
    entry: int  #: address of ``u64 ebpf_entry(ctx*)``
    batch: int  #: address of ``u64 ebpf_batch(ctx*, batch*)``
    callfn: int  #: address of ``u64 ebpf_callfn(ctx*)`` (helper callbacks)
    run: int  #: address of ``u64 ebpf_run(ctx*)`` (a fresh run in one call)
    program: Program
    options: LowerOptions
    layout: CodeLayout
    opt_level: int
    compile_seconds: float
    from_disk: bool = False
    ir: str = ""  #: the optimised IR (kept only when asked: ``keep_ir=True``)
    extra: dict = field(default_factory=dict)
    _lowering: ModuleLowering | None = field(default=None, repr=False)

    @property
    def lowering(self) -> ModuleLowering:
        """The lowering of the program (rebuilt on first use after a disk-cache hit)."""
        if self._lowering is None:
            self._lowering = lower_program(self.program, self.options)
        return self._lowering


def cache_key(program: Program, options: LowerOptions, opt_level: int) -> str:
    h = hashlib.sha256()
    h.update(program.bytecode)
    h.update(repr((tuple(insn.pc for insn in program.insns), options, opt_level, PIPELINES[opt_level],
                   toolchain_fingerprint(), source_fingerprint())).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Pipeline:
    """What one ``opt_level`` runs: LLVM's IR pipeline at ``ir_level`` (0: none) and code
    generation at ``codegen_level`` (0 is LLVM's fast instruction selector and register
    allocator)."""

    ir_level: int
    codegen_level: int


#: opt_level -> pipeline (bench/test_bench_jit.py measures compile and run time of each)
PIPELINES: dict[int, Pipeline] = {0: Pipeline(0, 0), 1: Pipeline(1, 1), 2: Pipeline(2, 2), 3: Pipeline(3, 3)}
OPT_LEVELS = tuple(PIPELINES)


def optimise(module: llvm.ModuleRef, opt_level: int) -> None:
    """Run llvmlite's new-pass-manager pipeline of ``opt_level`` (level 0 runs none)."""
    level = PIPELINES[opt_level].ir_level
    if level == 0:
        return
    tm = target_machine(PIPELINES[opt_level].codegen_level)
    pto = llvm.create_pipeline_tuning_options(speed_level=level)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)


def _engine(module: llvm.ModuleRef, opt_level: int, notify=None, getbuffer=None) -> tuple:
    """An MCJIT engine for ``module`` (its code generated, or loaded by ``getbuffer``) and the
    addresses of its four entry points; any address 0 means the object lacked a symbol."""
    engine = llvm.create_mcjit_compiler(module, new_target_machine(PIPELINES[opt_level].codegen_level))
    if notify is not None or getbuffer is not None:
        engine.set_object_cache(notify, getbuffer)
    engine.finalize_object()
    return engine, tuple(engine.get_function_address(name) for name in (ENTRY_NAME, BATCH_NAME, CALLFN_NAME,
                                                                        RUN_NAME))


def _empty_module(key: str) -> llvm.ModuleRef:
    module = llvm.parse_assembly("")
    tm = target_machine(0)
    module.triple, module.data_layout, module.name = tm.triple, str(tm.target_data), key
    return module


def _from_disk(disk: DiskCache, key: str, program: Program, options: LowerOptions,
               opt_level: int, started: float) -> CompiledCode | None:
    obj = disk.load(key)
    if obj is None:
        return None
    try:
        engine, addresses = _engine(_empty_module(key), opt_level, getbuffer=lambda module: obj)
    except RuntimeError:  # LLVM refused the object: compile again (the new entry replaces it)
        return None
    if not all(addresses):
        return None
    return CompiledCode(key, engine, *addresses, program, options, CodeLayout.of(program), opt_level,
                        time.perf_counter() - started, from_disk=True)


def compile_program(program: Program, options: LowerOptions, opt_level: int = 2, *, cache: bool = True,
                    cache_dir: str | os.PathLike | None = None, keep_ir: bool = False) -> CompiledCode:
    """Lower, optimise and compile ``program``, or fetch it from a cache.

    ``cache=False`` bypasses both caches. ``cache_dir`` overrides the disk cache's
    directory (:func:`ebpflite.jit.diskcache.default_directory`). ``keep_ir`` keeps the
    optimised IR text in ``.ir`` (and bypasses the disk cache, which has no IR)."""
    if opt_level not in OPT_LEVELS:
        raise ValueError(f"opt_level must be one of {OPT_LEVELS}, not {opt_level!r}")
    key = cache_key(program, options, opt_level)
    if cache:
        with _lock:
            hit = _memory.get(key)
        if hit is not None:
            return hit
    started = time.perf_counter()
    directory = (cache_dir if cache_dir is not None else default_directory()) if cache and not keep_ir else None
    disk = DiskCache(directory) if directory is not None else None
    code = _from_disk(disk, key, program, options, opt_level, started) if disk is not None else None
    if code is None:
        code = _compile(program, options, opt_level, key, disk, keep_ir, started)
    if cache:
        with _lock:
            code = _memory.setdefault(key, code)
    return code


def _compile(program: Program, options: LowerOptions, opt_level: int, key: str, disk: DiskCache | None,
             keep_ir: bool, started: float) -> CompiledCode:
    lowering = lower_program(program, options)
    lowering.module.name = key
    tm = target_machine(PIPELINES[opt_level].codegen_level)
    module = llvm.parse_assembly(str(lowering.module))
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    module.name = key
    optimise(module, opt_level)
    ir = str(module) if keep_ir else ""
    notify = (lambda _module, obj: disk.store(key, obj)) if disk is not None else None
    engine, addresses = _engine(module, opt_level, notify=notify)
    layout = CodeLayout(lowering.lddw_slots, frozenset(lowering.functions))
    return CompiledCode(key, engine, *addresses, program, options, layout, opt_level,
                        time.perf_counter() - started, ir=ir, _lowering=lowering)


def clear_memory_cache() -> None:
    """Forget every compiled program (benchmarks use this to time compiles)."""
    with _lock:
        _memory.clear()


def memory_cache_size() -> int:
    return len(_memory)
