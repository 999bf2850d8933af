"""Where each platform's own verifier decides differently, and ebpflite decides as it does.

A program is loaded by Linux (the kernel's verifier, as root) or by
ebpf-for-windows (PREVAIL). The two accept different programs: PREVAIL
reasons about ``data_end - p`` as a number and about ``p != data_end``,
the kernel does not; the kernel lets a privileged program read stack it
never wrote (``allow_uninit_stack``) and refuses unreachable instructions,
PREVAIL does the opposite. ebpflite's verdict is meant to predict whether
the program loads, so where the platforms differ it applies the rule of
the platform the program is for. Everything else is the same analysis.

Rules that would make ebpflite refuse a program the platform accepts are
never added here without the platform doing so; rules where the platform
is less precise than ebpflite could be (the kernel's 32-bit packet
comparisons) follow the platform, so a program ebpflite accepts loads.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rules:
    """The decisions that depend on the platform's verifier (see the module docstring)."""

    #: the verifier these rules follow, for messages
    verifier: str
    #: reading stack never written is allowed (its value is unknown) and reported as a note, not an error
    uninit_stack_reads: bool
    #: a number computed as ``data_end - p`` bounds p when it is compared
    end_distance: bool
    #: the conditions ``p OP data_end`` (after normalising p to the left) that prove bytes at p;
    #: ``jne`` proves one byte when p is known not to lie past the end
    packet_compare_ops: frozenset[str]
    #: 32-bit comparisons of packet pointers prove ranges (the kernel only learns from 64-bit ones)
    packet_compare32: bool
    #: ``data < data_end`` proves one byte (the kernel learns nothing from a strict test at offset 0)
    open_compare_at_start: bool
    #: an instruction no path reaches makes the program invalid (the kernel's check_cfg)
    unreachable_is_error: bool


#: platform -> rules
RULES: dict[str, Rules] = {
    "linux": Rules("the Linux kernel's verifier (as root)", uninit_stack_reads=True, end_distance=False,
                   packet_compare_ops=frozenset({"jle", "jlt"}), packet_compare32=False,
                   open_compare_at_start=False, unreachable_is_error=True),
    "windows": Rules("PREVAIL (ebpf-for-windows)", uninit_stack_reads=False, end_distance=True,
                     packet_compare_ops=frozenset({"jle", "jlt", "jsle", "jslt", "jeq", "jne"}),
                     packet_compare32=True, open_compare_at_start=True, unreachable_is_error=False),
}


def rules(platform: str) -> Rules:
    """The rules of ``platform`` (``linux`` or ``windows``)."""
    return RULES[platform]
