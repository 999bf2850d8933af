"""Probe programs for every program type, built from its context descriptor, and a child-process runner.

``probe_programs(prog_type, platform)`` gives, most aggressive first, programs that
touch everything the descriptor lets a program touch: every field read at its
size, the packet read and written behind the usual ``data + n > data_end``
check, the metadata read behind ``data_meta + n > data``, every writable field
written. The safety test takes the first one ebpflite's verifier accepts and
runs it on empty, short and long inputs through both engines in a child
process: a verified program must never take the process down, whatever
context the runtime builds for it.

Run as a script (``python context_probe.py``) it is that child: one line per
case, ``<type> <platform> <input> <engine>: ok <retval> | error <ebpflite exception class>``,
flushed as it goes so that a signal still shows which case was running.
"""

from __future__ import annotations

import sys

from ebpflite.vm.asm import assemble_program
from ebpflite.vm.program import Program

_WIDTH = {1: "u8", 2: "u16", 4: "u32", 8: "u64"}


def _accesses(field, write: bool = False) -> list[tuple[int, int]]:
    """(offset, size) accesses covering a field as the descriptor allows them: the widest width
    allowed at its start, and at its end when the field is wider."""
    rule = field.writes if write else field.reads
    widths = [w for w in rule.sizes() if rule.allows(0, w) and field.offset % w == 0]
    if not widths:
        return []
    w = max(widths)
    out = [(field.offset, w)]
    last = field.end - w
    if last > field.offset and last % w == 0 and rule.allows(last - field.offset, w):
        out.append((last, w))
    return out


def _packet_part(desc, write: bool) -> list[str]:
    lines = []
    size = {f.kind: f.size for f in desc.fields if f.readable}
    if desc.data >= 0 and desc.data_end >= 0:
        lines += [f"r2 = *({_WIDTH[size['data']]} *)(r6 + {desc.data})",
                  f"r3 = *({_WIDTH[size['data_end']]} *)(r6 + {desc.data_end})",
                  "r4 = r2", "r4 += 8", "if r4 > r3 goto +2", "r0 = *(u64 *)(r2 + 0)"]
        lines += ["*(u64 *)(r2 + 0) = r0"] if write else ["r0 += 0"]
    if desc.meta >= 0 and desc.data >= 0:
        lines += [f"r2 = *({_WIDTH[size['data_meta']]} *)(r6 + {desc.meta})",
                  f"r3 = *({_WIDTH[size['data']]} *)(r6 + {desc.data})",
                  "r4 = r2", "r4 += 1", "if r4 > r3 goto +1", "r0 = *(u8 *)(r2 + 0)"]
    return lines


def probe_programs(prog_type: str, platform: str) -> list[Program]:
    """Candidate probes for ``prog_type``, from the most to the least aggressive."""
    from ebpflite.vm.contexts import descriptor

    desc = descriptor(prog_type, platform)
    scalars = [f for f in desc.fields if f.kind == "scalar" and f.readable]
    variants = []
    for packet_write in (True, False):
        for field_write in (True, False):
            for scalar_reads in (True, False):
                body = ["r6 = r1", "r0 = 0"]
                if scalar_reads:
                    body += [f"r7 = *({_WIDTH[size]} *)(r6 + {off})" for f in scalars
                             for off, size in _accesses(f)]
                body += _packet_part(desc, packet_write)
                if field_write:
                    body += [f"*({_WIDTH[size]} *)(r6 + {off}) = r7" for f in desc.fields
                             for off, size in _accesses(f, write=True)]
                body += ["r0 = 0", "exit"]
                variants.append("\n".join(body) + "\n")
    out, seen = [], set()
    for text in variants:
        if text not in seen:
            seen.add(text)
            prog = assemble_program(text, name=f"probe_{prog_type}", platform=platform)
            out.append(Program(prog.insns, name=prog.name, section=prog_type, prog_type=prog_type,
                               platform=platform, line_info=prog.line_info, functions=prog.functions))
    return out


def verified_probe(prog_type: str, platform: str) -> Program | None:
    """The most aggressive probe the verifier accepts (None if it accepts none)."""
    from ebpflite.errors import VerifierError
    from ebpflite.verifier import check

    for prog in probe_programs(prog_type, platform):
        try:
            return check(prog)
        except VerifierError:
            continue
    return None


#: (label, run keyword arguments): empty, short and long packets and contexts
INPUTS = (
    ("packet-empty", {"packet": b""}),
    ("packet-short", {"packet": b"\x01" * 5}),
    ("packet-frame", {"packet": bytes(range(64))}),
    ("packet-long", {"packet": bytes(range(256)) * 16}),
    ("ctx-empty", {"ctx": b""}),
    ("ctx-short", {"ctx": b"\x02" * 6}),
    ("ctx-long", {"ctx": b"\xff" * 8192}),
    ("both-short", {"packet": b"\x03" * 20, "ctx": b"\x04" * 3}),
)


def main(cases: list[tuple[str, str]]) -> int:
    from ebpflite.api import Object
    from ebpflite.errors import EbpfError

    for prog_type, platform in cases:
        prog = verified_probe(prog_type, platform)
        if prog is None:
            print(f"{prog_type} {platform}: unverifiable", flush=True)
            continue
        obj = Object(f"<probe {prog_type}>", platform, {prog.name: prog}, [])
        handle = obj.programs[prog.name]
        for label, kwargs in INPUTS:
            for engine in ("interp", "jit"):
                print(f"{prog_type} {platform} {label} {engine}: ", end="", flush=True)
                try:
                    res = handle.run(engine=engine, **kwargs)
                    print(f"ok {res.return_value}", flush=True)
                except EbpfError as exc:  # anything else is a traceback: the child exits non-zero
                    print(f"error {type(exc).__name__}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main([tuple(arg.split(":")) for arg in sys.argv[1:]]))
