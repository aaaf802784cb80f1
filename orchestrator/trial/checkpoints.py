"""Checkpoints a preempted trial continues from, written so that no crash loses them.

A model's checkpoints live in shared storage (a directory or a bucket prefix, see
``mtsweep.shared_storage``), each written as one whole object: a reader sees the old
``latest.pt`` or the new one, never half of one. Before each save the current
``latest.pt`` is copied to ``previous.pt``, so a ``latest.pt`` that cannot be read (an
upload cut short by a store without whole-object writes, a disk error, a bad edit) falls
back to the one before it instead of failing its trial forever.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import torch

from mtsweep.shared_storage import SharedStorage, as_storage

log = logging.getLogger(__name__)

LATEST = "latest.pt"
PREVIOUS = "previous.pt"


def save_checkpoint(ckpt: SharedStorage | Path, state: dict[str, Any]) -> str:
    """Write ``state`` whole as the latest checkpoint, keeping the one before it; its URI."""
    ckpt = as_storage(ckpt)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    if ckpt.exists(LATEST):
        ckpt.copy(LATEST, PREVIOUS)
    return ckpt.write_bytes(LATEST, buffer.getvalue())


def load_checkpoint(ckpt: SharedStorage | Path) -> dict[str, Any] | None:
    """The newest readable checkpoint, or None for a fresh start.

    ``weights_only``: a checkpoint is data, never code, even on shared storage.
    """
    ckpt = as_storage(ckpt)
    for name in (LATEST, PREVIOUS):
        try:
            data = ckpt.read_bytes(name)
            if data is None:
                continue
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable object means: try the older one
            log.warning("checkpoint %s is unreadable (%s); trying an older one", ckpt.uri(name), e)
    return None
