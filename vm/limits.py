"""The limits of a run: stack per frame, call depth, tail calls, the default instruction budget.

Numbers the kernel fixes (and the verifier, both engines and the runtime
enforce), plus ebpflite's default budget for unverified programs. They live
in this leaf module, apart from the ISA table that re-exports them
(``vm.isa``), because the command line shows the budget in ``--help`` and
should not build the ISA table to do so.
"""

STACK_SIZE = 512  #: bytes of stack per frame
MAX_CALL_DEPTH = 8  #: bpf-to-bpf frames
MAX_TAIL_CALLS = 33
DEFAULT_BUDGET = 10_000_000  #: instructions per run for unverified programs
