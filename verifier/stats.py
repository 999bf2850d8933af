"""Program statistics in the shape ``netsh ebpf show section ... verbose`` prints them.

These are static counts over the instructions and the control-flow graph
(PREVAIL's ``collect_stats``): the loader's ``sections -v`` command prints
them next to each program, and ``verify -v`` in its report.
"""

from __future__ import annotations

from ebpflite.helpers import registry
from ebpflite.verifier import cfg as cfgmod
from ebpflite.vm.isa import Kind, PseudoSrc

KEYS = ("instructions", "basic blocks", "joins", "jumps", "arith", "arith32", "arith64", "assign", "load",
        "store", "load_store", "packet_access", "call_1", "call_mem", "call_nomem", "map_in_map",
        "adjust_head", "other")

_MEM_ARGS = {a for a in registry.Arg if a.name.startswith("PTR_TO")}
_MAP_IN_MAP = {"array_of_maps", "hash_of_maps"}


def _map_type(program, index: int) -> str:
    maps = program.maps or []
    if not 0 <= index < len(maps):
        return ""
    t = maps[index].get("type", "") if isinstance(maps[index], dict) else getattr(maps[index], "type", "")
    return t if isinstance(t, str) else registry.map_type_name(int(t), program.platform)


def program_stats(program) -> dict[str, int]:
    """Counts of instruction classes, blocks, joins and jumps (keys: :data:`KEYS`)."""
    counts = dict.fromkeys(KEYS, 0)
    counts["instructions"] = len(program.insns)
    graph = cfgmod.build(program.insns, dict(program.functions or {}))
    for func in graph.functions.values():
        counts["basic blocks"] += len(func.blocks)
        for block in func.blocks.values():
            if len(block.preds) > 1:
                counts["joins"] += 1
            if len(block.succs) > 1:
                counts["jumps"] += 1
    helpers = registry.profile(program.platform if program.platform in registry.PLATFORMS else "linux")
    for insn in program.insns:
        s, kind = insn.spec, insn.kind
        if kind is Kind.ALU:
            if s.op in ("mov", "movsx"):
                counts["assign"] += 1
            else:
                counts["arith"] += 1
                counts["arith32" if s.width == 32 else "arith64"] += 1
        elif kind is Kind.ENDIAN:
            counts["arith"] += 1
            counts["arith32" if s.width <= 32 else "arith64"] += 1
        elif kind is Kind.LDX:
            counts["load"] += 1
        elif kind in (Kind.ST, Kind.STX):
            counts["store"] += 1
        elif kind is Kind.ATOMIC:
            counts["load_store"] += 1
        elif kind in (Kind.LD_ABS, Kind.LD_IND):
            counts["packet_access"] += 1
        elif kind is Kind.LDDW:
            if insn.src == PseudoSrc.IMM64:
                counts["assign"] += 1
            elif insn.src in (PseudoSrc.MAP_FD, PseudoSrc.MAP_IDX) and _map_type(program, insn.imm) in _MAP_IN_MAP:
                counts["map_in_map"] += 1
            else:
                counts["other"] += 1
        elif kind is Kind.CALL:
            spec = helpers.get(insn.imm)
            if spec is None:
                counts["other"] += 1
            elif spec.short_name == "map_lookup_elem":
                counts["call_1"] += 1
            elif spec.short_name == "xdp_adjust_head":
                counts["adjust_head"] += 1
            elif any(a in _MEM_ARGS for a in spec.args):
                counts["call_mem"] += 1
            else:
                counts["call_nomem"] += 1
        else:
            counts["other"] += 1
    return counts


def stats_text(stats: dict[str, int]) -> str:
    """The statistics as ``netsh ebpf show section ... verbose`` lays them out."""
    width = max((len(k) for k in stats), default=0)
    return "\n".join(f"{k:<{width}} : {v}" for k, v in stats.items())
