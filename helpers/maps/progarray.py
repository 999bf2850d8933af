"""``prog_array``: the programs bpf_tail_call jumps to.

Slot ``i``'s u32 value is a program id (0 = empty) numbered by this map, and
the :class:`~ebpflite.vm.program.Program` objects themselves sit in a Python
dict, since native code cannot hold them: the tail_call helper asks
:meth:`ProgArrayMap.get_program`. Like the kernel, every program in one
array must share a program type. Programs cannot look into a prog_array
(lookups give NULL).

``spec.initial`` may map indexes to programs or to program *names* (as a
loader reading ``.maps`` initialisers gives them); names stay names until
:meth:`resolve_programs` swaps in the loaded programs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ebpflite.helpers.maps import layout as L
from ebpflite.helpers.maps.array import FdArrayMap
from ebpflite.helpers.maps.base import decode


def _is_raw(value: Any) -> bool:
    return isinstance(value, (bytes, bytearray, memoryview, int))


class ProgArrayMap(FdArrayMap):
    def __init__(self, spec: Any, *args: Any, **kwargs: Any):
        self._programs: dict[int, Any] = {}
        self._next_id = 1
        super().__init__(spec, *args, **kwargs)

    def validate(self) -> None:
        super().validate()
        self._require(self.value_size == 4, f"value_size must be 4, not {self.value_size}")

    def set_program(self, index: int, program: Any) -> None:
        """Put ``program`` (a Program, or a name to resolve later) in slot ``index``; None empties it."""
        if program is None:
            rc = self.delete(index)
            if rc not in (0, -L.ENOENT):
                raise self._error(f"index {index} is past max_entries {self.max_entries}", -rc)
            return
        rc = self.update(index, program)
        if rc < 0:
            raise self._error(f"cannot store a program at index {index}: error {-rc}", -rc)

    def get_program(self, index: int) -> Any:
        """The program in slot ``index``, or None (empty or out of range)."""
        if not 0 <= index < self.max_entries or not self._present[index]:
            return None
        return self._programs.get(index)

    def resolve_programs(self, programs: Mapping[str, Any]) -> None:
        """Replace program names stored from ``spec.initial`` with the loaded programs."""
        for index, prog in list(self._programs.items()):
            if isinstance(prog, str):
                if prog not in programs:
                    raise self._error(f"slot {index} names program {prog!r}, which the object lacks",
                                      L.ENOENT)
                self._programs[index] = programs[prog]

    def update(self, key: Any, value: Any, flags: int = 0) -> int:
        if _is_raw(value) or value is None:
            raise self._error("prog_array values are programs: use set_program() or m[i] = program")
        prog_type = getattr(value, "prog_type", None)
        for other in self._programs.values():
            other_type = getattr(other, "prog_type", None)
            if prog_type is not None and other_type is not None and other_type != prog_type:
                return -L.EINVAL  # the kernel ties a prog_array to one program type
        prog_id = self._next_id
        rc = super().update(key, prog_id, flags)
        if rc == 0:
            self._next_id += 1
            self._programs[self._index(self.key_bytes(key))] = value
        return rc

    def delete(self, key: Any) -> int:
        rc = super().delete(key)
        if rc == 0:
            self._programs.pop(self._index(self.key_bytes(key)), None)
        return rc

    def lookup_address(self, key: bytes) -> int:
        return 0

    def __getitem__(self, key: Any) -> Any:
        prog = self.get_program(self._index(self.key_bytes(key)))
        if prog is None:
            raise KeyError(key)
        return prog

    def __setitem__(self, key: Any, value: Any) -> None:
        self.set_program(self._index(self.key_bytes(key)), value)

    def items(self) -> list[tuple[Any, Any]]:
        return [(decode(k, None), self._programs.get(int.from_bytes(k, "little"))) for k in self._raw_keys()]
