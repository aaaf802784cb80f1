"""The shared-encoder multitask network and its weighted loss Σ λ_c L_c (paper §3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.normalize import Normalize
from mtsweep.errors import MtsweepError
from tasks.losses import Loss, valid_fraction
from tasks.registry import Task


class MultiTaskNet(nn.Module):
    """One encoder shared by every task, one decoder per task, outputs at the input size.

    A single-task model is the same class with one decoder, so training, attacks and
    checkpoints never special-case it.
    """

    def __init__(self, encoder: nn.Module, decoders: Mapping[str, nn.Module]) -> None:
        super().__init__()
        self.normalize = Normalize()
        self.encoder = encoder
        self.decoders = nn.ModuleDict(dict(decoders))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        size = x.shape[-2:]
        features = self.encoder(self.normalize(x))
        outputs = {}
        for name, decoder in self.decoders.items():
            out = decoder(features)
            if out.shape[-2:] != size:
                out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
            outputs[name] = out
        return outputs


class MultiTaskLoss:
    """Σ λ_c · mean_batch L_c over the model's tasks; also returns each L_c for logging."""

    def __init__(
        self,
        tasks: Sequence[Task],
        weights: Mapping[str, float],
        all_pixels: bool = False,
        losses: Mapping[str, Loss] | None = None,
    ) -> None:
        missing = [t.name for t in tasks if t.name not in weights]
        if missing:
            raise MtsweepError(f"no loss weight for task(s) {', '.join(missing)}")
        self.tasks = list(tasks)
        self.weights = {t.name: float(weights[t.name]) for t in tasks}
        # each task's loss over all pixels, masked and ignored ones in the denominator, as
        # MTRobust's losses (tasks.losses.valid_fraction); else over the valid pixels
        self.all_pixels = all_pixels
        # a task's training loss where a preset replaces its table's (train.autoencoder_loss)
        self.losses = {t.name: (losses or {}).get(t.name, t.loss) for t in tasks}

    def __call__(
        self,
        outputs: Mapping[str, torch.Tensor],
        targets: Mapping[str, torch.Tensor],
        masks: Mapping[str, torch.Tensor | None],
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        per_task = {}
        for t in self.tasks:
            target, mask = targets[t.name], masks.get(t.name)
            loss = self.losses[t.name](outputs[t.name].float(), target, mask)
            if self.all_pixels:
                loss = loss * valid_fraction(target, mask, t.ignore_index)
            per_task[t.name] = loss.mean()
        total = sum(self.weights[name] * loss for name, loss in per_task.items())
        return total, per_task
