"""Run a step under a cap on this process's memory, so that a step too big for the machine
fails with an allocation error the caller can act on, instead of the kernel's OOM killer
ending the process without a word (a paper-size DRN timed on a laptop).

The cap is on the address space (``RLIMIT_AS``): what the process has mapped now plus what
the machine has available. Mapped is more than resident, so the cap errs on the safe side.
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


def _mapped() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@contextmanager
def memory_cap(extra: int) -> Iterator[None]:
    """Allow this process ``extra`` bytes beyond what it has mapped now, then lift the cap."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _mapped() + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def out_of_memory(error: BaseException) -> bool:
    """Whether ``error`` is an allocation the cap (or the machine) refused."""
    return isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and any(s in str(error) for s in _REFUSED)
    )
