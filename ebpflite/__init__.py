"""ebpflite: a userspace eBPF virtual machine.

The public API lives here; the subsystems are ``ebpflite.vm`` (ISA,
assembler, interpreter), ``ebpflite.loader`` (ELF/BTF), ``ebpflite.verifier``,
``ebpflite.helpers`` (maps, helpers, contexts) and ``ebpflite.jit``.
"""

from ebpflite.errors import *  # noqa: F401,F403

__version__ = "0.1.0"

from ebpflite.api import BindRequest, Clock, Object, Process, ProgramHandle, Result, load  # noqa: E402,F401
