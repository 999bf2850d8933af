"""Public name of engine choice: ``ebpflite.engines.create("interp" | "jit", program, env)``.

The code lives in the runtime layer (:mod:`ebpflite.runtime.engines`).
"""

from ebpflite.runtime.engines import ENGINES, create, run_conformance

__all__ = ["ENGINES", "create", "run_conformance"]
