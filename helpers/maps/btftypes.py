"""numpy dtypes from BTF types, so map keys and values read as structured records.

``m.use_btf(obj.btf)`` looks up the map's ``btf_key_type``/``btf_value_type``
ids and, when they translate, makes ``m[key]``, ``items()`` and iteration
return numpy records (``rec["packets"]``) instead of ints or bytes. Types
that numpy cannot express field by field (bitfields, members that overlap
other than in a union's first member, flexible arrays) fall back to raw
bytes of the right size, never to an error: the dtype is a convenience.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_MAX_DEPTH = 32


def btf_dtype(btf: Any, type_id: int, _depth: int = 0) -> np.dtype | None:
    """The numpy dtype for BTF type ``type_id`` (None for void or what cannot be sized)."""
    if not type_id or btf is None or _depth > _MAX_DEPTH:
        return None
    try:
        t = btf.resolve(type_id)
        if t is None:
            return None
        kind = t.kind.name
        if kind == "INT":
            signed = bool(t.extra and t.extra[0] & 1)
            if t.size in (1, 2, 4, 8):
                return np.dtype(f"<{'i' if signed else 'u'}{t.size}")
            return np.dtype((np.void, t.size))
        if kind in ("ENUM", "ENUM64"):
            return np.dtype(f"<u{t.size}") if t.size in (1, 2, 4, 8) else np.dtype((np.void, t.size))
        if kind == "FLOAT":
            return np.dtype(f"<f{t.size}") if t.size in (2, 4, 8) else np.dtype((np.void, t.size))
        if kind == "PTR":
            return np.dtype("<u8")
        if kind == "ARRAY":
            elem = btf_dtype(btf, t.extra[0], _depth + 1)
            if elem is None or not t.extra[2]:
                return None
            return np.dtype((elem, (t.extra[2],)))
        if kind in ("STRUCT", "UNION"):
            return _record(btf, t, _depth)
        return None
    except Exception:  # noqa: BLE001 - malformed BTF: no dtype, raw bytes instead
        return None


def _record(btf: Any, t: Any, depth: int) -> np.dtype:
    names, formats, offsets = [], [], []
    end = 0
    for m in t.members:
        if not m.name or m.bitfield_size or m.offset % 8:
            continue
        sub = btf_dtype(btf, m.type_id, depth + 1)
        off = m.offset // 8
        if sub is None or off < end or off + sub.itemsize > t.size or m.name in names:
            continue  # overlapping (union), unsized or out of bounds: left as raw bytes
        names.append(m.name)
        formats.append(sub)
        offsets.append(off)
        end = off + sub.itemsize
    if not names:
        return np.dtype((np.void, t.size))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": t.size})
