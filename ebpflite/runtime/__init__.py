"""The runtime layer: running loaded programs, between the public API and the engines.

- :mod:`~ebpflite.runtime.engines`: choosing an engine by name (``interp``, ``jit``);
- :mod:`~ebpflite.runtime.runner`: live maps per object, an environment per program,
  one run like ``BPF_PROG_TEST_RUN`` (:class:`~ebpflite.runtime.runner.ProgramRunner`);
- :mod:`~ebpflite.runtime.contexts`: which context a program type runs on (a table);
- :mod:`~ebpflite.runtime.both`: ``engine="both"``, the two engines compared on one world;
- :mod:`~ebpflite.runtime.replay`: many packets through one program (batch or per packet).

The API (``ebpflite.api``), the CLI and the pytest plugin go through here; the
runtime reaches down into the engines (``vm``, ``jit``) and the program's world
(``helpers``), never up. Nothing is imported eagerly, so ``import
ebpflite.runtime`` costs nothing until a program runs.
"""
