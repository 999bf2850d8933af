"""Assertions for testing eBPF programs, and the run records they explain failures from.

A failing assertion should tell a person what happened without a debugger:
the action by name, how the output packet differs from the expected one (by
field and by byte, with any checksum the program broke), which map entries
the run changed, what the program printed with ``bpf_printk``, and, when
asked, the last instructions before the exit.

:class:`TestObject` wraps a loaded object (from ``ebpflite.load``) so that
each ``run`` records the maps before and after and the input packet; the
pytest fixtures hand out these wrappers. The assertions also accept the
runtime's plain results; they then explain what those carry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ebpflite.packets import Frame, decode, explain
from ebpflite.packets.diff import PacketLike, as_bytes

#: how many instructions before the exit a trace shows
TRACE_TAIL = 20

# prefixes by which action names may be abbreviated in assertions: "PASS" == "XDP_PASS"
_ACTION_PREFIXES = ("XDP_", "TC_ACT_", "BIND_", "SK_", "BPF_")


# --- map snapshots ----------------------------------------------------------------------


Snapshot = dict[str, dict[bytes, tuple[bytes, ...]]]


def snapshot_maps(maps: Any) -> Snapshot:
    """Raw contents of every map: ``{name: {key bytes: per-CPU value bytes}}``.

    ``maps`` is the object's ``maps`` mapping (name -> live map). Maps that
    cannot be listed (ring buffers, program arrays) are left out.
    """
    out: Snapshot = {}
    if not isinstance(maps, Mapping):
        return out
    for name, live in maps.items():
        raw_items = getattr(live, "raw_items", None)
        if raw_items is None:
            continue
        try:
            out[name] = {bytes(k): tuple(bytes(v) for v in raws) for k, raws in raw_items()}
        except Exception:  # noqa: BLE001 - a map type with no listing is simply not shown
            continue
    return out


def _hex(data: bytes) -> str:
    return data.hex(" ") if len(data) <= 32 else data[:32].hex(" ") + f" ... ({len(data)} bytes)"


def _value_text(raws: tuple[bytes, ...]) -> str:
    if len(raws) == 1:
        return _hex(raws[0])
    return "[" + ", ".join(f"cpu{i}: {_hex(v)}" for i, v in enumerate(raws)) + "]"


def map_changes(before: Snapshot, after: Snapshot) -> list[str]:
    """One line per map entry added, removed or changed between two snapshots."""
    lines = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, {}), after.get(name, {})
        for key in sorted(set(old) | set(new)):
            if key not in old:
                lines.append(f"{name}[{_hex(key)}]: added {_value_text(new[key])}")
            elif key not in new:
                lines.append(f"{name}[{_hex(key)}]: deleted (was {_value_text(old[key])})")
            elif old[key] != new[key]:
                lines.append(f"{name}[{_hex(key)}]: {_value_text(old[key])} -> {_value_text(new[key])}")
    return lines


# --- run records ------------------------------------------------------------------------


@dataclass
class TestResult:
    """A runtime result plus what the assertions explain it with.

    Attribute access falls through to the runtime's result, so
    ``res.return_value``, ``res.action``, ``res.packet`` work as usual.
    """

    __test__ = False  # not a pytest test class

    result: Any
    program: str = "?"
    engine: str = "?"
    packet_in: bytes | None = None
    maps_before: Snapshot = field(default_factory=dict)
    maps_after: Snapshot = field(default_factory=dict)
    #: the run was asked for an instruction trace (show it on failures)
    traced: bool = False
    #: the executed instructions (``TraceEntry``s), when the engine could record them
    trace: list | None = None

    def __getattr__(self, name: str) -> Any:
        if name == "result":  # not yet set (copy/pickle): avoid recursion
            raise AttributeError(name)
        return getattr(self.result, name)

    def map_changes(self) -> list[str]:
        return map_changes(self.maps_before, self.maps_after)


class TestProgram:
    """A program of a :class:`TestObject`: ``run`` returns :class:`TestResult`s."""

    __test__ = False

    def __init__(self, owner: TestObject, name: str, program: Any):
        self._owner, self.name, self._program = owner, name, program

    def __getattr__(self, name: str) -> Any:
        return getattr(self._program, name)

    def run(self, packet: PacketLike | None = None, *, trace: bool | None = None, **kwargs: Any) -> TestResult:
        """Run the program (arguments as the runtime's ``run``; ``packet`` may be a Frame).

        ``trace=True`` (or ``--ebpf-trace``) records the executed instructions,
        which failing assertions show.
        """
        data = as_bytes(packet) if packet is not None else None
        before = snapshot_maps(self._owner.maps)
        if data is not None:
            kwargs["packet"] = data
        traced = self._owner.trace if trace is None else trace
        if traced:
            result, steps = self._run_traced(kwargs)
        else:
            result, steps = self._program.run(**kwargs), None
        return TestResult(result, self.name, self._owner.engine, data, before, snapshot_maps(self._owner.maps),
                          traced, steps)

    def _run_traced(self, kwargs: dict[str, Any]) -> tuple[Any, list | None]:
        """Run with the interpreter recording every instruction, in the program's own environment.

        The JIT records no trace; its runs are made as usual and report that.
        """
        get_runner = getattr(self._program, "runner", None)
        if get_runner is None:  # a runtime whose run() takes trace= itself
            result = self._program.run(trace=True, **kwargs)
            return result, getattr(result, "trace", None)
        runner = get_runner(kwargs.get("engine"))
        if getattr(runner, "engine_name", None) != "interp":
            return self._program.run(**kwargs), None
        from ebpflite.vm.interp import Interpreter

        tracer = _TracingEngine(Interpreter(runner.program, runner.env, trace=True))
        original, runner.engine = runner.engine, tracer
        try:
            result = self._program.run(**kwargs)
        finally:
            runner.engine = original
        return result, tracer.trace


class _TracingEngine:
    """Wraps a tracing interpreter to keep the trace the runner would otherwise drop."""

    checked = True  #: an interpreter: every access checked

    def __init__(self, inner: Any):
        self.inner = inner
        self.trace: list | None = None

    def native_context(self, record: int) -> None:
        self.inner.native_context(record)

    def run(self, *registers: int) -> Any:
        outcome = self.inner.run(*registers)
        self.trace = outcome.trace
        return outcome


class TestObject:
    """A loaded object whose programs record each run for the assertions."""

    __test__ = False

    def __init__(self, obj: Any, engine: str, source: str = "", trace: bool = False):
        self._obj, self.engine, self.source, self.trace = obj, engine, source, trace
        self.programs = {name: TestProgram(self, name, prog) for name, prog in obj.programs.items()}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._obj, name)

    @property
    def maps(self) -> Any:
        return self._obj.maps

    @property
    def program(self) -> TestProgram:
        """The only program (an error naming them if there are several)."""
        if len(self.programs) != 1:
            raise KeyError(f"{self.source or 'the object'} has {len(self.programs)} programs "
                           f"({', '.join(self.programs) or 'none'}); pick one with .programs[name]")
        return next(iter(self.programs.values()))


# --- the report a failure prints ------------------------------------------------------------


def _action_text(result: Any) -> str:
    action = getattr(result, "action", None)
    value = getattr(result, "return_value", None)
    if action is None:
        return f"return value {value}"
    return f"{action} (return value {value})"


def _trace_lines(result: Any, tail: int) -> list[str]:
    """The last ``tail`` executed instructions, if the run was traced."""
    trace = getattr(result, "trace", None)
    if not trace:
        return []
    lines = []
    for entry in trace[-tail:]:
        changed = ", ".join(f"{k}={v:#x}" if isinstance(v, int) else f"{k}={v}"
                            for k, v in (getattr(entry, "changed", None) or {}).items())
        insn = _insn_text(getattr(entry, "insn", ""))
        lines.append(f"  {getattr(entry, 'pc', '?'):>5}: {insn}" + (f"    ; {changed}" if changed else ""))
    return lines


def _insn_text(insn: Any) -> str:
    from ebpflite.vm.insn import Insn

    if isinstance(insn, Insn):
        from ebpflite.vm.disasm import format_insn

        return format_insn(insn)
    return str(insn)


def report(result: Any, trace: bool = False) -> str:
    """Everything known about a run, for an assertion message."""
    lines = []
    if isinstance(result, TestResult):
        lines.append(f"program {result.program} on engine {result.engine}: {_action_text(result)}")
        if result.packet_in is not None:
            lines.append(f"input packet:  {decode(result.packet_in).summary()}")
    else:
        lines.append(f"run: {_action_text(result)}")
    out = getattr(result, "packet", None)
    if out is not None:
        lines.append(f"output packet: {decode(out).summary()}")
    redirect = getattr(result, "redirect", None)
    if redirect:
        lines.append(f"redirect: {redirect}")
    fields = skb_fields(result)
    shown = {k: v for k, v in fields.items() if v and k not in ("ifindex", "wire_len")}
    if shown:
        lines.append("__sk_buff after the run (ctx_out): "
                     + ", ".join(f"{k}={v:#x}" if isinstance(v, int) else f"{k}={v}" for k, v in shown.items()))
    if isinstance(result, TestResult):
        changes = result.map_changes()
        lines.append("maps changed by the run:" if changes else "maps changed by the run: none")
        lines.extend(f"  {c}" for c in changes)
    printed = getattr(result, "trace_output", None) or []
    if printed:
        lines.append("bpf_printk output:")
        lines.extend(f"  {line.rstrip()}" for line in printed)
    if trace or getattr(result, "traced", False) is True:
        tail = _trace_lines(result, TRACE_TAIL)
        if tail:
            lines.append(f"last {len(tail)} instructions before the exit:")
            lines.extend(tail)
        elif getattr(result, "traced", False) and getattr(result, "engine", "") != "interp":
            lines.append(f"no instruction trace: the {result.engine} engine records none; "
                         "run with --ebpf-engine interp to see one")
        else:
            lines.append("no instruction trace: run the program with trace=True to record one")
    return "\n".join(lines)


# --- assertions -----------------------------------------------------------------------------


def _normalise(name: str) -> str:
    name = name.upper()
    for prefix in _ACTION_PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix):]
    return name


def action_matches(result: Any, expected: str | int) -> bool:
    if isinstance(expected, int):
        return getattr(result, "return_value", None) == expected
    action = getattr(result, "action", None)
    return action is not None and _normalise(str(action)) == _normalise(expected)


def assert_action(result: Any, expected: str | int, trace: bool = False) -> None:
    """The run ended with action ``expected`` (``"XDP_DROP"``, ``"DROP"`` or a return value)."""
    __tracebackhide__ = True
    if not action_matches(result, expected):
        raise AssertionError(f"expected action {expected}, got {_action_text(result)}\n"
                             + report(result, trace))


def assert_return(result: Any, expected: int, trace: bool = False) -> None:
    """The program returned ``expected``."""
    __tracebackhide__ = True
    if getattr(result, "return_value", None) != expected:
        raise AssertionError(f"expected return value {expected}, got {_action_text(result)}\n"
                             + report(result, trace))


def assert_packet(result: Any, expected: PacketLike, trace: bool = False) -> None:
    """The output packet equals ``expected`` (a Frame, a layer or bytes)."""
    __tracebackhide__ = True
    actual = getattr(result, "packet", None)
    if actual is None:
        raise AssertionError("the run produced no output packet\n" + report(result, trace))
    text = explain(expected, bytes(actual))
    if text:
        raise AssertionError("the output packet differs from the expected one\n" + text + "\n"
                             + report(result, trace))


def assert_printed(result: Any, text: str) -> None:
    """Some ``bpf_printk`` line of the run contains ``text``."""
    __tracebackhide__ = True
    printed = getattr(result, "trace_output", None) or []
    if not any(text in line for line in printed):
        raise AssertionError(f"no bpf_printk line contains {text!r}\n" + report(result))


def assert_map_unchanged(result: TestResult, names: Iterable[str] | None = None) -> None:
    """The run changed no entry of the maps ``names`` (default: any map)."""
    __tracebackhide__ = True
    wanted = set(names) if names is not None else None
    changes = [c for c in result.map_changes() if wanted is None or c.split("[", 1)[0] in wanted]
    if changes:
        raise AssertionError("the run changed map entries:\n" + "\n".join(f"  {c}" for c in changes)
                             + "\n" + report(result))


# --- __sk_buff programs (tc, socket filters, cgroup skb) ------------------------------------------


def sk_buff(*, cb: Iterable[int] = (), **fields: int) -> bytes:
    """A ``struct __sk_buff`` to pass as ``ctx=`` (BPF_PROG_TEST_RUN's ctx_in): ``sk_buff(mark=7,
    cb=[1, 2], ifindex=2)``. Only the fields the kernel takes from ctx_in may be set (mark,
    priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size, hwtstamp)."""
    import struct as _struct

    from ebpflite.helpers.skb import CTX_IN_FIELDS, SKB_SLOTS
    from ebpflite.vm.contexts import SK_BUFF_SIZE

    settable = {name for name in CTX_IN_FIELDS if not name.startswith("cb[")}
    raw = bytearray(SK_BUFF_SIZE)
    for name, value in fields.items():
        if name not in settable:
            raise ValueError(f"__sk_buff.{name} cannot be set in ctx_in (the kernel refuses it); settable: "
                             f"{', '.join(sorted(settable | {'cb'}))}")
        offset, size = SKB_SLOTS[name]
        _struct.pack_into({4: "<I", 8: "<Q"}[size], raw, offset, value & ((1 << 8 * size) - 1))
    cb = list(cb)
    if len(cb) > 5:
        raise ValueError(f"__sk_buff.cb has 5 words, not {len(cb)}")
    for i, value in enumerate(cb):
        _struct.pack_into("<I", raw, SKB_SLOTS[f"cb[{i}]"][0], value & 0xFFFFFFFF)
    return bytes(raw)


def skb_fields(result: Any) -> dict[str, Any]:
    """The ``__sk_buff`` fields BPF_PROG_TEST_RUN writes back into ctx_out (mark, priority,
    ingress_ifindex, ifindex, cb as a list, tstamp, wire_len, gso_segs, hwtstamp); empty
    when the run was not on an ``__sk_buff``."""
    import struct as _struct

    from ebpflite.helpers.skb import CTX_OUT_FIELDS, SKB_SLOTS
    from ebpflite.vm.contexts import SK_BUFF_SIZE

    ctx = getattr(result, "ctx", None)
    action = str(getattr(result, "action", "") or "")
    if ctx is None or len(ctx) != SK_BUFF_SIZE or not action.startswith(("TC_ACT_", "SK_")):
        return {}
    out: dict[str, Any] = {}
    for name in CTX_OUT_FIELDS:
        offset, size = SKB_SLOTS[name]
        value = _struct.unpack_from({4: "<I", 8: "<Q"}[size], ctx, offset)[0]
        if name.startswith("cb["):
            out.setdefault("cb", []).append(value)
        else:
            out[name] = value
    return out


def assert_skb(result: Any, **expected: Any) -> None:
    """The ``__sk_buff`` after the run has these field values: ``assert_skb(res, mark=0x42, cb=[1, 0, 0, 0, 0])``
    (the fields ctx_out carries; see :func:`skb_fields`)."""
    __tracebackhide__ = True
    fields = skb_fields(result)
    if not fields:
        raise AssertionError("the run was not on an __sk_buff (tc, socket filter or cgroup skb program)\n"
                             + report(result))
    unknown = [name for name in expected if name not in fields]
    if unknown:
        raise ValueError(f"ctx_out does not carry {', '.join(unknown)} (it carries {', '.join(fields)})")
    wrong = [f"  {name}: expected {want!r}, got {fields[name]!r}" for name, want in expected.items()
             if (list(want) if name == "cb" else want) != fields[name]]
    if wrong:
        raise AssertionError("the __sk_buff differs:\n" + "\n".join(wrong) + "\n" + report(result))


def assert_redirect(result: Any, ifindex: int | None = None, *, ingress: bool | None = None) -> None:
    """The run redirected the packet (TC_ACT_REDIRECT / XDP_REDIRECT), to ``ifindex`` if given,
    to its ingress (``BPF_F_INGRESS``) or egress if ``ingress`` is given."""
    __tracebackhide__ = True
    redirect = getattr(result, "redirect", None) or {}
    action = str(getattr(result, "action", "") or "")
    if not action.endswith("REDIRECT") or not redirect:
        raise AssertionError(f"expected a redirect, got {_action_text(result)}\n" + report(result))
    if ifindex is not None and redirect.get("ifindex") != ifindex:
        raise AssertionError(f"expected a redirect to ifindex {ifindex}, got {redirect}\n" + report(result))
    if ingress is not None and bool(redirect.get("flags", 0) & 1) != ingress:
        where = "ingress" if ingress else "egress"
        raise AssertionError(f"expected a redirect to the device's {where}, got {redirect}\n" + report(result))


# --- comparing engines ----------------------------------------------------------------------


def engine_differences(results: Mapping[str, TestResult]) -> list[str]:
    """How runs of the same program on several engines disagree (empty when they agree)."""
    names = list(results)
    if len(names) < 2:
        return []
    ref_name = names[0]
    ref = results[ref_name]
    out = []
    for name in names[1:]:
        other = results[name]
        for attr in ("return_value", "action", "trace_output", "ctx", "redirect"):
            a, b = getattr(ref, attr, None), getattr(other, attr, None)
            if a != b:
                out.append(f"{attr}: {ref_name} {a!r}, {name} {b!r}")
        pa, pb = getattr(ref, "packet", None), getattr(other, "packet", None)
        if pa != pb:
            if pa is None or pb is None:
                out.append(f"packet: {ref_name} {pa!r}, {name} {pb!r}")
            else:
                out.append(f"packet ({ref_name} as expected, {name} as actual):\n{explain(pa, pb)}")
        ma = ref.maps_after if isinstance(ref, TestResult) else {}
        mb = other.maps_after if isinstance(other, TestResult) else {}
        for change in map_changes(ma, mb):
            out.append(f"map contents ({ref_name} -> {name}): {change}")
    return out


def format_frame_comparison(left: Frame | bytes, right: Frame | bytes) -> list[str]:
    """Lines for pytest's ``assert frame == other`` failure message."""
    text = explain(left, right)
    return ["packets differ:", *text.splitlines()] if text else []
