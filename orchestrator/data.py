"""Where a trial's data comes from: a user's real data root, or synthetic data made once.

Synthetic data is generated into a cache keyed by its parameters (generation is
deterministic, so any node can make its own identical copy). Readers are kept per worker
process, so trials that reuse a Ray worker also reuse the decoded images.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, Subset

from orchestrator.training import collate
from tasks.cityscapes_data import CityscapesDataset
from tasks.errors import DataError
from tasks.registry import Task
from tasks.synth import write_cityscapes, write_taskonomy
from tasks.taskonomy_data import TaskonomyDataset

log = logging.getLogger(__name__)

SMALL_IMAGE = 64  # at or below this side, readers keep decoded samples in memory
_READERS: dict[tuple, Dataset] = {}


def cache_home() -> Path:
    return Path(os.environ.get("MTSWEEP_CACHE", Path.home() / ".cache" / "mtsweep"))


def synthetic_root(dataset: str, data: dict[str, Any]) -> Path:
    n, size, seed = int(data.get("n", 64)), int(data.get("size", 32)), int(data.get("seed", 0))
    return cache_home() / "synth" / f"{dataset}-n{n}-s{size}-seed{seed}"


def ensure_data(dataset: str, data: dict[str, Any]) -> Path:
    """The data root for a spec's data block; synthetic data is generated if missing."""
    if data.get("source", "synthetic") == "real":
        root = Path(data["root"])
        if not root.is_dir():
            raise DataError(
                f"data root {root} does not exist; pass --data-root to a {dataset} "
                "dataset directory"
            )
        if not any(root.iterdir()):
            raise DataError(
                f"data root {root} is empty; pass --data-root to a {dataset} dataset directory"
            )
        return root
    root = synthetic_root(dataset, data)
    if (root / ".complete").exists():
        return root
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    writer = write_taskonomy if dataset == "taskonomy" else write_cityscapes
    report = writer(
        tmp, n=int(data.get("n", 64)), size=int(data.get("size", 32)), seed=int(data.get("seed", 0))
    )
    (tmp / ".complete").write_text(f"{report.n_images}\n")
    try:
        os.replace(tmp, root)
    except OSError:  # another process finished the same (identical) data first
        shutil.rmtree(tmp, ignore_errors=True)
    log.info(
        "synthetic %s data: %d images in %s (%.1f s)",
        dataset,
        report.n_images,
        root,
        report.seconds,
    )
    return root


def image_size(dataset: str, data: dict[str, Any]) -> int:
    return int(data.get("image_size", data.get("size", 256 if dataset == "taskonomy" else 340)))


def open_split(
    dataset: str,
    root: Path,
    data: dict[str, Any],
    tasks: list[Task],
    split: str,
    limit: int | None = None,
) -> Dataset:
    """The reader for one split, shared by every trial of this process that asks for it.

    Readers read exactly the trial's tasks, so a corrupt label file of one task fails only
    the trials that train or evaluate that task.
    """
    size = image_size(dataset, data)
    small = size <= SMALL_IMAGE
    key = (dataset, str(root), split, size, tuple(t.name for t in tasks))
    reader = _READERS.get(key)
    if reader is None:
        if dataset == "taskonomy":
            reader = TaskonomyDataset(root, tasks, split=split, size=size, cache=small)
        else:
            reader = CityscapesDataset(root, tasks, split=split, size=size, cache=small)
        _READERS[key] = reader
    if len(reader) == 0:
        raise DataError(f"no {split} images of {dataset} under {root}")
    if limit is not None and limit < len(reader):
        return Subset(reader, range(limit))
    return reader


def first_batch(ds: Dataset, n: int) -> dict[str, torch.Tensor]:
    return collate([ds[i] for i in range(min(n, len(ds)))])
