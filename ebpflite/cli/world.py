"""``ebpflite prog run``, ``xdp``, ``tc``, ``socket`` and ``bind``: run loaded programs on inputs.

``prog run`` mirrors ``bpftool prog run`` (BPF_PROG_TEST_RUN): data and
context in from files, out to files, ``Return value: N, duration (average):
Xns``. ``xdp``, ``tc`` and ``socket`` replay a capture through an XDP, tc
(``__sk_buff``) or socket filter / cgroup skb program through the one replay
path (``ebpflite.runtime.replay``) and count actions, writing the packets that
go on (after any rewrite; a socket filter's trimmed to the length it keeps) to
a new capture. ``bind`` runs an ebpf-for-windows bind program on one request.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from ebpflite.cli.loadopts import BTF_OPTION, TYPE_OPTION
from ebpflite.cli.mapargs import MAP_OPTION
from ebpflite.errors import EbpfError

_OBJ = click.argument("obj", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_PROG = click.option("--prog", "prog_name", help="Program name (default: the object's only/first program).")
_ENGINE = click.option("--engine", type=click.Choice(["interp", "jit", "both"]), default="interp", show_default=True,
                       help="both: run the interpreter and the JIT and stop at the first difference.")
_VERIFY = click.option("--verify/--no-verify", default=True, show_default=True,
                       help="Run the verifier before running.")
_PLATFORM = click.option("--platform", type=click.Choice(["linux", "windows"]), default=None,
                         help="Helper numbering and context layout (default: guessed from the object).")

_PIN_DIR = click.option("--pin-dir", type=click.Path(file_okay=False),
                        help="Back the maps with files in this directory (they persist between runs).")

#: captures larger than this show a progress bar (on a terminal)
PROGRESS_BYTES = 16 << 20


def _program(obj_path: Path, prog_name: str | None, engine: str, verify: bool, platform: str | None,
             pin_dir: str | None = None, map_entries=(), prog_type: str | None = None, btf: Path | None = None):
    from ebpflite.api import load
    from ebpflite.cli import mapargs

    # with --prog, only that program is verified: the object's other sections may need another --type
    checked = ([prog_name] if prog_name else True) if verify else False
    obj = load(obj_path, engine=engine, verify=checked, platform=platform, pin_dir=pin_dir, prog_type=prog_type,
               btf=btf)
    mapargs.apply(obj.maps, map_entries)
    if not obj.programs:
        raise click.ClickException(f"{obj_path} has no programs")
    if prog_name is None:
        return obj, next(iter(obj.programs.values()))
    if prog_name not in obj.programs:
        raise click.ClickException(f"{obj_path} has no program {prog_name!r} "
                                   f"(it has {', '.join(obj.programs)})")
    return obj, obj.programs[prog_name]


@click.group("prog")
def prog_group() -> None:
    """Run the programs of an object file."""


@prog_group.command("run")
@_OBJ
@_PROG
@click.option("--data-in", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Packet bytes (the XDP frame).")
@click.option("--data-out", type=click.Path(dir_okay=False, path_type=Path), help="Write the output packet here.")
@click.option("--ctx-in", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Context bytes (xdp_md for XDP, the raw context otherwise).")
@click.option("--ctx-out", type=click.Path(dir_okay=False, path_type=Path), help="Write the context afterwards.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True)
@_PIN_DIR
@MAP_OPTION
@_ENGINE
@_VERIFY
@_PLATFORM
@TYPE_OPTION
@BTF_OPTION
@click.option("-j", "--json", "as_json", is_flag=True, help="JSON output (as bpftool -j).")
def prog_run(obj: Path, prog_name: str | None, data_in: Path | None, data_out: Path | None, ctx_in: Path | None,
             ctx_out: Path | None, repeat: int, pin_dir: str | None, map_entries, engine: str, verify: bool,
             platform: str | None, prog_type: str | None, btf: Path | None, as_json: bool) -> None:
    """Run a program once (or --repeat times) on a packet and/or context, like bpftool prog run.

    For tc, socket filter and cgroup skb programs --data-in is the frame and --ctx-in a
    __sk_buff, as BPF_PROG_TEST_RUN takes them; inputs the kernel refuses fail with its errno."""
    import os

    from ebpflite.errors import TestRunRefused
    from ebpflite.runtime.contexts import ctx_out_only_input

    _, prog = _program(obj, prog_name, engine, verify, platform, pin_dir, map_entries, prog_type, btf)
    packet = data_in.read_bytes() if data_in else None
    ctx = ctx_in.read_bytes() if ctx_in else None
    if ctx is None and ctx_out is not None:
        ctx = ctx_out_only_input(prog.prog_type, prog.program.platform)
    try:
        res = prog.run(packet=packet, ctx=ctx, repeat=repeat)
    except TestRunRefused as exc:
        raise click.ClickException(f"failed to run program: {os.strerror(exc.errno)}: {exc}") from None
    if data_out is not None and res.packet is not None:
        data_out.write_bytes(res.packet)
    if ctx_out is not None and res.ctx is not None:
        ctx_out.write_bytes(res.ctx)
    if as_json:
        click.echo(json.dumps({"retval": res.return_value, "duration": round(res.duration_ns),
                               "action": res.action, "insns_executed": res.insns_executed,
                               "trace_output": res.trace_output}))
        return
    for line in res.trace_output:
        click.echo(f"bpf_trace_printk: {line}", err=True)
    click.echo(f"Return value: {res.return_value}, duration{' (average)' if repeat > 1 else ''}: "
               f"{round(res.duration_ns)}ns")


_PCAP = click.option("--pcap", "pcap_in", required=True,
                     type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     help="Capture to replay (pcap or pcapng, Ethernet).")
_JSON = click.option("--json", "as_json", is_flag=True, help="One JSON record per packet.")


@click.command("xdp")
@_OBJ
@_PROG
@_PCAP
@click.option("--out", "pcap_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write packets that PASS or TX (after rewrites) to this pcap.")
@_JSON
@_PIN_DIR
@MAP_OPTION
@_ENGINE
@_VERIFY
@_PLATFORM
@TYPE_OPTION
@BTF_OPTION
def xdp_cmd(obj: Path, prog_name: str | None, pcap_in: Path, pcap_out: Path | None, as_json: bool,
            pin_dir: str | None, map_entries, engine: str, verify: bool, platform: str | None,
            prog_type: str | None, btf: Path | None) -> None:
    """Replay a capture through an XDP program: actions with counts, passed packets to --out."""
    _, prog = _program(obj, prog_name, engine, verify, platform, pin_dir, map_entries, prog_type, btf)
    if prog.prog_type != "xdp":
        raise click.ClickException(f"program {prog.name} is a {prog.prog_type} program, not xdp")
    _replay(prog, engine, pcap_in, pcap_out, as_json)


@click.command("tc")
@_OBJ
@_PROG
@_PCAP
@click.option("--out", "pcap_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write packets that go on (TC_ACT_OK, TC_ACT_UNSPEC, TC_ACT_PIPE; after rewrites) to this pcap.")
@_JSON
@click.option("--type", "prog_type", type=click.Choice(["sched_cls", "sched_act"]), default="sched_cls",
              show_default=True, help="Load the programs as classifiers or actions, as tc does whatever the "
                                      "section is called.")
@_PIN_DIR
@MAP_OPTION
@_ENGINE
@_VERIFY
@BTF_OPTION
def tc_cmd(obj: Path, prog_name: str | None, pcap_in: Path, pcap_out: Path | None, as_json: bool, prog_type: str,
           pin_dir: str | None, map_entries, engine: str, verify: bool, btf: Path | None) -> None:
    """Replay a capture through a tc program (__sk_buff): TC_ACT_* counts, passed packets to --out."""
    _, prog = _program(obj, prog_name, engine, verify, "linux", pin_dir, map_entries, prog_type, btf)
    _replay(prog, engine, pcap_in, pcap_out, as_json)


@click.command("socket")
@_OBJ
@_PROG
@_PCAP
@click.option("--out", "pcap_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the packets the filter keeps (trimmed to the length it returns) to this pcap.")
@_JSON
@click.option("--type", "prog_type", type=click.Choice(["socket_filter", "cgroup_skb"]), default=None,
              help="Load the programs as this type (default: the section's, else socket_filter).")
@_PIN_DIR
@MAP_OPTION
@_ENGINE
@_VERIFY
@BTF_OPTION
def socket_cmd(obj: Path, prog_name: str | None, pcap_in: Path, pcap_out: Path | None, as_json: bool,
               prog_type: str | None, pin_dir: str | None, map_entries, engine: str, verify: bool,
               btf: Path | None) -> None:
    """Replay a capture through a socket filter (kept, trimmed or dropped) or a cgroup skb program."""
    _, prog = _program(obj, prog_name, engine, verify, "linux", pin_dir, map_entries, prog_type, btf)
    if prog_type is None and prog.prog_type not in ("socket_filter", "cgroup_skb"):
        _, prog = _program(obj, prog_name, engine, verify, "linux", pin_dir, map_entries, "socket_filter", btf)
    _replay(prog, engine, pcap_in, pcap_out, as_json)


def _replay(prog, engine: str, pcap_in: Path, pcap_out: Path | None, as_json: bool) -> None:
    """The replay every packet command shares (ebpflite.runtime.replay): counts, --out, --json.

    The capture is streamed (memory stays bounded whatever its size); with the JIT, verified
    XDP programs run chunk by chunk in one native call each."""
    from ebpflite.errors import PcapError
    from ebpflite.helpers.pcap import CaptureStream

    replayer = prog.replayer(engine)
    show = (lambda record: click.echo(json.dumps(record.as_dict()))) if as_json else None
    try:
        with CaptureStream(pcap_in) as stream, _progress(pcap_in, enabled=not as_json) as on_chunk:
            replay = replayer.run(stream, on_record=show, out=pcap_out, keep=False, on_chunk=on_chunk)
    except PcapError as exc:
        raise click.ClickException(str(exc)) from None
    except EbpfError as exc:
        where = exc.packet_index if exc.packet_index is not None else "?"
        raise click.ClickException(f"packet {where}: {exc}") from None
    for warning in replay.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not as_json:
        _report(prog, pcap_in, replay, pcap_out)


class _progress:
    """A progress bar on stderr, fed once per chunk, for captures big enough to wait for
    (a context manager giving the ``on_chunk`` callback, or None)."""

    def __init__(self, capture: Path, enabled: bool):
        import sys

        size = capture.stat().st_size
        self.enabled = enabled and size >= PROGRESS_BYTES and sys.stderr.isatty()
        self.size = size
        self.name = capture.name

    def __enter__(self):
        if not self.enabled:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("replaying {task.fields[name]}: {task.fields[packets]} packets"),
                            BarColumn(), TimeRemainingColumn(), console=Console(stderr=True), transient=True)
        self.bar.start()
        self.task = self.bar.add_task("replay", total=self.size, name=self.name, packets=0)

        def on_chunk(packets: int, bytes_read: int) -> None:
            self.bar.update(self.task, completed=bytes_read, packets=packets)

        return on_chunk

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.stop()


def _report(prog, pcap_in: Path, replay, pcap_out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    note = replay.note
    title = f"{prog.name} on {pcap_in.name}: {replay.packets} packets" + (f" ({note})" if note else "")
    table = Table(title=title)
    table.add_column("action")
    table.add_column("packets", justify="right")
    table.add_column("share", justify="right")
    for action, n in replay.counts.most_common():
        table.add_row(action, str(n), f"{100 * n / max(1, replay.packets):.1f}%")
    for reason, n in sorted(replay.skipped.items()):
        table.add_row(f"skipped ({reason})", str(n), "")
    Console().print(table)
    if replay.redirects:
        targets = Table(title="redirect targets")
        targets.add_column("target")
        targets.add_column("packets", justify="right")
        for target, n in replay.redirects.most_common():
            targets.add_row(target, str(n))
        Console().print(targets)
    if pcap_out is not None:
        click.echo(f"wrote {replay.written} packets to {pcap_out}")


@click.command("bind")
@_OBJ
@_PROG
@click.option("--address", required=True, help="IP:PORT being bound.")
@click.option("--protocol", type=click.Choice(["tcp", "udp"]), default="tcp", show_default=True)
@click.option("--process-id", type=int, default=0, show_default=True)
@click.option("--app-id", default="", help="The application id (executable path) the request comes from.")
@click.option("--operation", type=click.Choice(["bind", "post_bind", "unbind"]), default="bind",
              show_default=True)
@_PIN_DIR
@MAP_OPTION
@_ENGINE
@_VERIFY
@click.option("--json", "as_json", is_flag=True)
def bind_cmd(obj: Path, prog_name: str | None, address: str, protocol: str, process_id: int, app_id: str,
             operation: str, pin_dir: str | None, map_entries, engine: str, verify: bool, as_json: bool) -> None:
    """Run an ebpf-for-windows bind program on one bind request and print its decision."""
    from ebpflite.api import BindRequest

    _, prog = _program(obj, prog_name, engine, verify, "windows", pin_dir, map_entries)
    request = BindRequest(address, protocol, process_id, app_id, operation)
    res = prog.run(bind=request)
    decision = res.action or f"unknown ({res.return_value})"
    if as_json:
        click.echo(json.dumps({"retval": res.return_value, "decision": decision,
                               "trace_output": res.trace_output}))
        return
    for line in res.trace_output:
        click.echo(f"trace: {line}", err=True)
    click.echo(f"{decision} ({res.return_value})")


def register(group: click.Group) -> None:
    group.add_command(prog_group)
    group.add_command(xdp_cmd)
    group.add_command(tc_cmd)
    group.add_command(socket_cmd)
    group.add_command(bind_cmd)
