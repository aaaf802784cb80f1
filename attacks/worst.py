"""The worst case over attacks (as in Croce, Singh & Hein's SEA, ECCV 2024): per image, the
member attack that leaves the main task's primary metric worst.

Each image's metric is the task's own meter run on that image alone (mIoU over the classes
the image labels or predicts, L1 over its valid pixels, …), so "worst" means what the
task's table reports. An image whose metric is undefined (no valid pixel) keeps the first
member's result. The chosen images are then scored like any evaluation's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import lazy_loader

from tasks.registry import Task

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

Outputs = Mapping[str, "torch.Tensor"]


def per_image_metric(
    task: Task, prediction: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None
) -> list[float]:
    """The task's primary metric of each image on its own (NaN where undefined)."""
    values = []
    for i in range(prediction.shape[0]):
        meter = task.make_meter()
        meter.update(
            prediction[i : i + 1], target[i : i + 1], None if mask is None else mask[i : i + 1]
        )
        values.append(meter.compute()[task.primary_metric])
    return values


def worst_choice(scores: Sequence[Sequence[float]], higher_is_better: bool) -> list[int]:
    """Per image, the index of the member with the worst score (ties: the first)."""
    sign = 1.0 if higher_is_better else -1.0
    chosen = []
    for per_member in zip(*scores, strict=True):
        keyed = [(sign * v if not math.isnan(v) else math.inf) for v in per_member]
        chosen.append(min(range(len(keyed)), key=keyed.__getitem__))
    return chosen


def worst_of(
    candidates: Sequence[tuple[torch.Tensor, Outputs]],
    task: Task,
    target: torch.Tensor,
    mask: torch.Tensor | None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Per image, the (input, outputs) of the candidate that leaves ``task`` worst."""
    scores = [per_image_metric(task, out[task.name], target, mask) for _, out in candidates]
    chosen = worst_choice(scores, task.higher_is_better[task.primary_metric])
    pick = torch.tensor(chosen, device=target.device)

    def gather(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
        stacked = torch.stack(list(tensors))  # (members, B, ...)
        index = pick.view(1, -1, *([1] * (stacked.dim() - 2))).expand(1, *stacked.shape[1:])
        return stacked.gather(0, index).squeeze(0)

    x = gather([x for x, _ in candidates])
    outputs = {name: gather([out[name] for _, out in candidates]) for name in candidates[0][1]}
    return x, outputs
