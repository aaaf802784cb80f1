"""Batches of reader samples: one ``collate`` and one ``to_device`` for training and attacks.

A reader sample is ``{"image": (3,H,W), "targets": {task: tensor}, "masks": {task: tensor}}``
(see ``tasks.reading``); a batch is the same dict with a leading batch dimension.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import lazy_loader

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

Batch = dict[str, Any]


def collate(samples: Sequence[Batch]) -> Batch:
    """Stack a list of reader samples into one batch of the same shape."""
    first = samples[0]
    return {
        "image": torch.stack([s["image"] for s in samples]),
        "targets": {k: torch.stack([s["targets"][k] for s in samples]) for k in first["targets"]},
        "masks": {k: torch.stack([s["masks"][k] for s in samples]) for k in first["masks"]},
    }


def to_device(batch: Batch, device: torch.device | str, channels_last: bool = False) -> Batch:
    """Image, targets and masks of a collated batch on ``device`` (a None mask stays None)."""
    image = batch["image"].to(device, non_blocking=True)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    return {
        "image": image,
        "targets": {k: v.to(device, non_blocking=True) for k, v in batch["targets"].items()},
        "masks": {
            k: None if v is None else v.to(device, non_blocking=True)
            for k, v in batch.get("masks", {}).items()
        },
    }
