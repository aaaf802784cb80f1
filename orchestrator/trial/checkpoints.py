"""Checkpoints a preempted trial continues from, written so that no crash loses them.

Each save goes to a uniquely named temporary file, is fsync'd, and is renamed over
``latest.pt`` after the previous one became ``previous.pt``; a ``latest.pt`` that cannot be
read (a torn write on a storage without atomic rename, a disk error) falls back to
``previous.pt`` instead of failing its trial forever.
"""

from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

LATEST = "latest.pt"
PREVIOUS = "previous.pt"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a file system that cannot open directories: nothing to sync
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(ckpt_dir: Path, state: dict[str, Any]) -> Path:
    """Write ``state`` durably as the latest checkpoint, keeping the one before it."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    latest = ckpt_dir / LATEST
    tmp = ckpt_dir / f".{LATEST}.{uuid.uuid4().hex}.tmp"
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        if latest.exists():
            os.replace(latest, ckpt_dir / PREVIOUS)
        os.replace(tmp, latest)
        _fsync_dir(ckpt_dir)
    finally:
        tmp.unlink(missing_ok=True)
    return latest


def load_checkpoint(ckpt_dir: Path) -> dict[str, Any] | None:
    """The newest readable checkpoint, or None for a fresh start.

    ``weights_only``: a checkpoint is data, never code, even on shared storage.
    """
    for name in (LATEST, PREVIOUS):
        path = ckpt_dir / name
        if not path.exists():
            continue
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unreadable file means: try the older one
            log.warning("checkpoint %s is unreadable (%s); trying an older one", path, e)
    return None
