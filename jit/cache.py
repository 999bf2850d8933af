"""Compiling lowered modules to native code, and the compile cache.

Compiling is the expensive part of the JIT (llvmlite's O2 pipeline and code
generation take a few hundred milliseconds per thousand eBPF instructions),
while the lowered module depends only on the program's bytes and the mode:
every run-specific address lives in the run context (:mod:`ebpflite.jit.abi`).
So compiled code is shared through two caches:

- in memory: one :class:`CompiledCode` (an MCJIT execution engine) per key,
  for the life of the process;
- on disk (optional): llvmlite's object cache stores the machine code, keyed
  by the same hash, so a later process skips optimisation and code generation.
  Enable it with ``cache_dir=`` or the ``EBPFLITE_JIT_CACHE`` environment
  variable.

The key covers the program bytes, the options, the optimisation level, the
host CPU and the llvmlite version; a map layout needs no place in it because
lddw values are read from the run context.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from ebpflite.jit.lower import (
    BATCH_NAME,
    CALLFN_NAME,
    ENTRY_NAME,
    RUN_NAME,
    LowerOptions,
    ModuleLowering,
    lower_program,
)
from ebpflite.vm.program import Program

_lock = threading.Lock()
_initialised = False
_machines: dict[int, llvm.TargetMachine] = {}
_memory: dict[str, CompiledCode] = {}
OPT_LEVELS = (0, 1, 2, 3)


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


@dataclass
class CompiledCode:
    """Native code for one (program, options, level), ready to call."""

    key: str
    engine: llvm.ExecutionEngine
    entry: int  #: address of ``u64 ebpf_entry(ctx*)``
    batch: int  #: address of ``u64 ebpf_batch(ctx*, batch*)``
    callfn: int  #: address of ``u64 ebpf_callfn(ctx*)`` (helper callbacks)
    run: int  #: address of ``u64 ebpf_run(ctx*)`` (a fresh run in one call)
    lowering: ModuleLowering
    ir: str  #: the optimised IR
    opt_level: int
    compile_seconds: float
    from_disk: bool = False
    extra: dict = field(default_factory=dict)


def cache_key(program: Program, options: LowerOptions, opt_level: int) -> str:
    h = hashlib.sha256()
    h.update(program.bytecode)
    h.update(repr((options, opt_level, llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(),
                   llvmlite.__version__, _LOWERING_VERSION)).encode())
    return h.hexdigest()


#: bump when the lowering changes, so disk caches of older code are not reused
_LOWERING_VERSION = 10  # 10: budget counted per segment (exact), inline region caches in checked code; 9: batch loop copies into a frame (jit/batch.py), native XDP and world helpers


def optimise(module: llvm.ModuleRef, opt_level: int) -> None:
    """Run llvmlite's new-pass-manager pipeline at ``opt_level`` (0 = none)."""
    if opt_level == 0:
        return
    tm = target_machine(opt_level)
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)


class _DiskCache:
    """llvmlite object-cache callbacks storing machine code in ``directory/<key>.o``."""

    def __init__(self, directory: Path, key: str):
        self.path = directory / f"{key}.o"
        self.hit = False

    def notify(self, module, data: bytes) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(data)
            tmp.replace(self.path)
        except OSError:  # a read-only or full cache directory only costs a recompile
            pass

    def load(self, module) -> bytes | None:
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        self.hit = True
        return data


def compile_program(program: Program, options: LowerOptions, opt_level: int = 2, *, cache: bool = True,
                    cache_dir: str | os.PathLike | None = None) -> CompiledCode:
    """Lower, optimise and compile ``program`` (or fetch it from a cache)."""
    if opt_level not in OPT_LEVELS:
        raise ValueError(f"opt_level must be one of {OPT_LEVELS}, not {opt_level!r}")
    key = cache_key(program, options, opt_level)
    if cache:
        with _lock:
            hit = _memory.get(key)
        if hit is not None:
            return hit
    if cache_dir is None and cache:
        cache_dir = os.environ.get("EBPFLITE_JIT_CACHE") or None
    started = time.perf_counter()
    lowering = lower_program(program, options)
    lowering.module.name = key
    tm = target_machine(opt_level)
    module = llvm.parse_assembly(str(lowering.module))
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    module.name = key
    disk = _DiskCache(Path(cache_dir), key) if cache_dir else None
    if disk is not None and disk.path.exists():
        # the object file replaces code generation; optimising would be wasted work
        optimised = False
    else:
        optimise(module, opt_level)
        optimised = True
    engine = llvm.create_mcjit_compiler(module, new_target_machine(opt_level))
    if disk is not None:
        engine.set_object_cache(disk.notify, disk.load)
    engine.finalize_object()
    entry = engine.get_function_address(ENTRY_NAME)
    batch = engine.get_function_address(BATCH_NAME)
    callfn = engine.get_function_address(CALLFN_NAME)
    run = engine.get_function_address(RUN_NAME)
    code = CompiledCode(key, engine, entry, batch, callfn, run, lowering, str(module) if optimised else "", opt_level,
                        time.perf_counter() - started, from_disk=bool(disk and disk.hit))
    if cache:
        with _lock:
            _memory.setdefault(key, code)
            code = _memory[key]
    return code


def clear_memory_cache() -> None:
    """Forget every compiled program (benchmarks use this to time compiles)."""
    with _lock:
        _memory.clear()


def memory_cache_size() -> int:
    return len(_memory)
