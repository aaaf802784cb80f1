"""Tiny models and synthetic batches shared by the attack tests (16 px, a few images)."""

from __future__ import annotations

import torch
from torch import nn

from tasks.labels import CITYSCAPES_IGNORE
from tasks.registry import get_task

SEG = get_task("cityscapes", "segment_semantic")
DEPTH = get_task("cityscapes", "depth")


class TinyNet(nn.Module):
    """Two 3×3 convs and one 1×1 head per task: a shared-encoder multitask model in small."""

    def __init__(self, tasks=(SEG, DEPTH), width: int = 8, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
        )
        self.heads = nn.ModuleDict({t.name: nn.Conv2d(width, t.channels, 1) for t in tasks})

    def forward(self, x):
        feat = self.body(x)
        return {name: head(feat) for name, head in self.heads.items()}


def make_batch(n: int = 4, size: int = 16, seed: int = 0) -> dict:
    """Blocks of classes 0–2, each brightening its own colour channel a little; depth = mean.

    The first row is labelled 'ignore'. The class signal (0.1) is small, so ε = 8/255 can
    flip pixels of a briefly trained model.
    """
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, 3, (n, 1, size // 4, size // 4), generator=g)
    labels = blocks.repeat_interleave(4, 2).repeat_interleave(4, 3)
    onehot = torch.zeros(n, 3, size, size).scatter_(1, labels, 1.0)
    image = (0.45 + 0.1 * onehot + 0.03 * torch.randn(n, 3, size, size, generator=g)).clamp(0, 1)
    seg = labels.clone()
    seg[:, :, 0, :] = CITYSCAPES_IGNORE
    ones = torch.ones(n, 1, size, size, dtype=torch.bool)
    return {
        "image": image,
        "targets": {SEG.name: seg, DEPTH.name: image.mean(1, keepdim=True) * 4.0},
        "masks": {SEG.name: ones, DEPTH.name: ones},
    }


def train(model: nn.Module, steps: int = 80, seed: int = 0) -> nn.Module:
    """A few dozen Adam steps on fresh synthetic batches (equal task weights)."""
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    model.train()
    for step in range(steps):
        batch = make_batch(8, seed=1000 * seed + step)
        out = model(batch["image"])
        loss = sum(
            t.loss(out[t.name], batch["targets"][t.name], batch["masks"][t.name]).mean()
            for t in (SEG, DEPTH)
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()
