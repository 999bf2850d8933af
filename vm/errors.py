"""Every error ebpflite raises on bad input derives from :class:`EbpfError`.

Untrusted input (object files, bytecode, assembly, packets, programs that
misbehave at run time) must never crash the Python process or leak a raw
``struct.error``/``IndexError``: each subsystem turns what it finds into one
of these typed exceptions, with a message that names *where* (file, section,
instruction index, source line) and *what* (the field, the address, the
condition).

This module is the leaf of the package: it imports nothing of ebpflite, so
every layer (vm, loader, verifier, helpers, jit, runtime, the API) can raise
these without importing anything above itself. The public name is
``ebpflite.errors``, which re-exports everything here; the classes carry that
name as ``__module__`` so tracebacks and pickles show the public path.
"""

from __future__ import annotations


class EbpfError(Exception):
    """Base class of all ebpflite errors."""

    #: set when the error stopped a replay: the index of the failing packet in its source
    packet_index: int | None = None


# --- bytecode and assembly ---------------------------------------------------


class DecodeError(EbpfError):
    """An instruction that is not valid eBPF (bad opcode, reserved field set,
    bad jump target, truncated lddw, write to r10, ...).

    ``pc`` is the instruction index (in 8-byte slots), ``field`` the offending
    field name (``opcode``, ``dst``, ``src``, ``off``, ``imm``) when one is to
    blame.
    """

    def __init__(self, message: str, pc: int | None = None, field: str | None = None,
                 raw: bytes | None = None):
        self.pc = pc
        self.field = field
        self.raw = raw
        where = f"instruction {pc}" if pc is not None else "instruction"
        if raw is not None:
            where += f" ({raw.hex(' ')})"
        super().__init__(f"{where}: {message}" if pc is not None or raw is not None else message)
        self.reason = message


class AssemblerError(EbpfError):
    """Assembly text that cannot be assembled; names the line."""

    def __init__(self, message: str, line_no: int | None = None, line: str | None = None):
        self.line_no = line_no
        self.line = line
        self.reason = message
        if line_no is not None:
            text = f"line {line_no}: {message}"
            if line is not None:
                text += f" (in {line.strip()!r})"
        else:
            text = message
        super().__init__(text)


# --- loading -------------------------------------------------------------------


class LoaderError(EbpfError):
    """A malformed or unsupported object file; names the file and section."""

    def __init__(self, message: str, file: str | None = None, section: str | None = None):
        self.file = file
        self.section = section
        self.reason = message
        parts = [p for p in (file, f"section {section}" if section else None) if p]
        super().__init__(f"{': '.join(parts)}: {message}" if parts else message)


class BTFError(LoaderError):
    """Malformed BTF or BTF.ext data."""


class CompileError(EbpfError):
    """`ebpflite cc` could not compile a C file (message holds the compiler's output)."""


# --- verification ------------------------------------------------------------------


class VerifierError(EbpfError):
    """The verifier rejected a program. ``report`` holds the structured findings."""

    def __init__(self, message: str, report=None):
        self.report = report
        super().__init__(message)


# --- execution ---------------------------------------------------------------------


class ExecutionError(EbpfError):
    """A program misbehaved at run time (both engines raise the same ones)."""

    def __init__(self, message: str, pc: int | None = None):
        self.pc = pc
        self.reason = message
        super().__init__(f"pc {pc}: {message}" if pc is not None else message)


class MemoryFault(ExecutionError):
    """An access outside every region the program may touch (or a write to a
    read-only one). Names pc, address, size and the nearest region."""

    def __init__(self, pc: int | None, address: int, size: int, write: bool,
                 detail: str = ""):
        self.address = address
        self.size = size
        self.write = write
        kind = "write" if write else "read"
        msg = f"invalid {kind} of {size} byte{'s' if size != 1 else ''} at 0x{address:x}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg, pc)


class BudgetExceeded(ExecutionError):
    """The instruction budget ran out: most likely an endless loop."""


class CallDepthExceeded(ExecutionError):
    """Too many nested bpf-to-bpf calls (or tail calls)."""


class HelperError(ExecutionError):
    """A helper was called with arguments it cannot accept, or does not exist."""


class EngineMismatch(EbpfError):
    """The interpreter and the JIT disagreed (``--engine both``)."""


# --- the program's world --------------------------------------------------------------


class MapError(EbpfError):
    """A map operation failed; ``errno`` is the kernel's error code (positive)."""

    def __init__(self, message: str, errno: int | None = None):
        self.errno = errno
        super().__init__(message)


class PcapError(EbpfError):
    """A capture file that is truncated, not a capture, or of an unsupported link type."""


class ContextError(EbpfError):
    """A context or packet the program cannot be run on (too short, bad layout)."""


class TestRunRefused(ContextError):
    """An input the kernel's BPF_PROG_TEST_RUN refuses; ``errno`` is its error number (EINVAL...)."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, code: int, message: str):
        import errno as _errno

        self.errno = code
        super().__init__(f"{message} (the kernel refuses it: {_errno.errorcode.get(code, code)})")


class PacketError(EbpfError):
    """A packet that cannot be built as asked (a field value that does not fit,
    an address that does not parse, a checksum with no IP header to cover)."""


__all__ = [name for name, value in list(globals().items())
           if isinstance(value, type) and issubclass(value, EbpfError)]

for _name in __all__:
    globals()[_name].__module__ = "ebpflite.errors"
del _name
