"""Small functions the helper tests share (imported by name: conftest modules
are not importable reliably when several test folders have one)."""


def neg(errno: int) -> int:
    """A helper's error return: -errno as an unsigned 64-bit register value."""
    return (-errno) & (2**64 - 1)
