"""Mutated real objects (truncation, byte flips, section-table damage) only ever
raise typed ebpflite errors: never a raw pyelftools/struct/Index error."""

from __future__ import annotations

import io
import random
import struct

from elftools.elf.elffile import ELFFile

from ebpflite.errors import EbpfError
from ebpflite.loader import load_object

MUTATIONS_PER_OBJECT = 400  # x 6 objects = 2400 loads, a few seconds


def _section_table(data: bytes) -> tuple[int, int, int]:
    elf = ELFFile(io.BytesIO(data))
    return elf.header["e_shoff"], elf.header["e_shentsize"], elf.num_sections()


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    shoff, shentsize, nsec = _section_table(data)
    kind = rng.randrange(5)
    if kind == 0:  # truncation
        return bytes(out[: rng.randrange(len(out))])
    if kind == 1:  # byte flips anywhere
        for _ in range(rng.randint(1, 8)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    elif kind == 2:  # section header damage: a random field of a random header
        hdr = shoff + rng.randrange(nsec) * shentsize
        off, fmt = rng.choice([(0, "<I"), (4, "<I"), (8, "<Q"), (24, "<Q"), (32, "<Q"), (40, "<I"),
                               (44, "<I"), (56, "<Q")])
        value = rng.choice([0, 1, 7, 8, 0xFFFF, 0xFFFFFFFF, rng.randrange(1 << 16), len(data) + 8])
        struct.pack_into(fmt, out, hdr + off, value & ((1 << (8 * struct.calcsize(fmt))) - 1))
    elif kind == 3:  # random 32-bit words inside one section's data (symbols, relocs, BTF, code)
        hdr = shoff + rng.randrange(1, nsec) * shentsize
        sec_off, sec_size = struct.unpack_from("<QQ", out, hdr + 24)
        if sec_size >= 4 and sec_off + sec_size <= len(out):
            for _ in range(rng.randint(1, 4)):
                pos = sec_off + rng.randrange(sec_size - 3)
                struct.pack_into("<I", out, pos, rng.choice([0, 1, 0xFFFFFFFF, rng.getrandbits(32)]))
    else:  # ELF header fields
        off, fmt = rng.choice([(16, "<H"), (18, "<H"), (0x28, "<Q"), (0x3A, "<H"), (0x3C, "<H"), (0x3E, "<H")])
        struct.pack_into(fmt, out, off, rng.getrandbits(8 * struct.calcsize(fmt)))
    return bytes(out)


def test_mutated_objects_raise_only_typed_errors(objects):
    rng = random.Random(20240601)
    outcomes = {"loaded": 0, "rejected": 0}
    for stem in sorted(objects):
        data = objects[stem].read_bytes()
        for i in range(MUTATIONS_PER_OBJECT):
            bad = _mutate(rng, data)
            try:
                load_object(bad, partial=True)
            except EbpfError:
                outcomes["rejected"] += 1
            except Exception as exc:  # pragma: no cover - this is what the test hunts for
                raise AssertionError(f"{stem} mutation {i}: {type(exc).__name__}: {exc}") from exc
            else:
                outcomes["loaded"] += 1
    assert outcomes["rejected"] > 0 and outcomes["loaded"] > 0, outcomes
