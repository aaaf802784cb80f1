"""Run a step under a cap on this process's memory, so that a step too big for the machine
fails with an allocation error the caller can act on, instead of the kernel's OOM killer
ending the process without a word (a paper-size DRN timed on a laptop).

The cap is on the address space (``RLIMIT_AS``), the only per-process memory limit an
unprivileged process can set on itself. Address space also counts what was reserved and
never touched (thread stacks, allocator arenas: gigabytes for a process that imported
torch), so the cap is what the process holds in memory now plus what may be added: the
untouched reservations then come out of the allowance, and the process cannot grow past
what the machine has available (an earlier cap on mapped + available let DRN-D-105 grow
into the OOM killer).
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from contextlib import contextmanager

# What torch's CPU allocator (and Python) say when an allocation is refused.
_REFUSED = ("can't allocate memory", "not enough memory")


def available_memory() -> int:
    """Bytes the kernel reports available (``MemAvailable``), or free pages elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            kib = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:"))
        return kib * 1024
    except (OSError, StopIteration, ValueError):
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def _resident() -> int | None:
    """Bytes this process holds in memory now; None where ``/proc`` is absent (macOS)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return None


@contextmanager
def memory_cap(extra: int) -> Iterator[None]:
    """Let this process's address space reach what it holds in memory now plus ``extra``
    bytes (its untouched reservations count against ``extra``), then lift the cap. Where
    the resident size is unknown or the limit cannot be set (macOS), nothing is capped."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resident = _resident()
    if resident is None:
        yield
        return
    cap = resident + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        yield
        return
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation the cap (or the machine) refused."""
    return isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and any(s in str(error) for s in _REFUSED)
    )
