"""The public home of ebpflite's exceptions (``from ebpflite.errors import ...``).

The classes live in the leaf module :mod:`ebpflite.vm.errors`, which imports
nothing of the project, so the subsystems below the API can raise them
without importing the API package; this module re-exports all of them.
"""

from ebpflite.vm.errors import *  # noqa: F401,F403
from ebpflite.vm.errors import __all__  # noqa: F401
