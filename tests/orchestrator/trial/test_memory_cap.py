"""A step under a memory cap fails with an error the caller can act on, and the cap lifts."""

from __future__ import annotations

import os

import pytest
import torch

from orchestrator.trial.memory_cap import available_memory, memory_cap, out_of_memory

GIB = 2**30


def untouched() -> int:
    """Address space this process reserved but holds no memory in (the cap counts it)."""
    size, resident = (int(v) for v in open("/proc/self/statm").read().split()[:2])
    return (size - resident) * os.sysconf("SC_PAGE_SIZE")


def test_an_allocation_beyond_the_cap_is_refused_and_the_cap_lifts_after():
    assert available_memory() > GIB // 4
    with memory_cap(untouched() + 64 * 2**20):
        small = torch.ones(2**20)  # within the cap
        with pytest.raises(RuntimeError) as refused:
            torch.ones(GIB // 4, dtype=torch.float32)  # 1 GiB
    assert out_of_memory(refused.value) and small.sum() == 2**20
    assert torch.ones(GIB // 4, dtype=torch.uint8).sum() == GIB // 4  # lifted


def test_only_refused_allocations_count_as_out_of_memory():
    assert out_of_memory(MemoryError())
    assert not out_of_memory(RuntimeError("shape mismatch"))
    assert not out_of_memory(ValueError("can't allocate memory"))


def test_without_proc_nothing_is_capped(monkeypatch):
    """Where the resident size cannot be read (macOS has no /proc), the step runs uncapped
    rather than the estimate failing."""
    import orchestrator.trial.memory_cap as cap

    monkeypatch.setattr(cap, "_resident", lambda: None)
    limit = cap.resource.getrlimit(cap.resource.RLIMIT_AS)
    with memory_cap(64 * 2**20):
        assert cap.resource.getrlimit(cap.resource.RLIMIT_AS) == limit
        assert torch.ones(GIB // 4, dtype=torch.uint8).sum() == GIB // 4
