"""Houdini vs PGD on a tiny segmentation model: mIoU after each, same ε and steps.

Trains a small conv net for a few dozen steps on blocky synthetic scenes (five classes,
each nudging the colour of its pixels), then evaluates held-out images clean and under
PGD, MIM and Houdini at several ε. Run as ``.venv/bin/python bench/houdini_vs_pgd.py``;
prints one JSON object ``{eval: mIoU}`` (``--tiny``: a few training and attack steps at one
ε, as the test suite runs it).
"""

from __future__ import annotations

import json
import logging
import sys

import torch
from torch import nn

from attacks.evaluation import evaluate
from tasks.registry import get_task

SEG = get_task("cityscapes", "segment_semantic")
CLASSES, SIZE, BLOCK = 5, 32, 4
COLOURS = torch.Generator().manual_seed(123)
PALETTE = torch.rand(CLASSES, 3, generator=COLOURS) * 0.2 - 0.1  # per-class colour shift
STEPS = 20
EPS = (1, 2, 4, 8)


def scenes(n: int, seed: int) -> dict:
    """Images whose BLOCK×BLOCK blocks each take one class's colour shift, plus noise."""
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, CLASSES, (n, SIZE // BLOCK, SIZE // BLOCK), generator=g)
    labels = blocks.repeat_interleave(BLOCK, 1).repeat_interleave(BLOCK, 2)
    image = 0.5 + PALETTE[labels].permute(0, 3, 1, 2)
    image = (image + 0.03 * torch.randn(image.shape, generator=g)).clamp(0, 1)
    return {"image": image, "targets": {SEG.name: labels.unsqueeze(1)}, "masks": {}}


def tiny_segmenter(width: int = 16) -> nn.Module:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(3, width, 3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Conv2d(width, width, 3, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.Conv2d(width, SEG.channels, 1),
            )

        def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
            return {SEG.name: self.body(x)}

    return Net()


def train(model: nn.Module, steps: int = 150) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for step in range(steps):
        batch = scenes(16, seed=step)
        loss = SEG.loss(model(batch["image"])[SEG.name], batch["targets"][SEG.name], None).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def main(tiny: bool = False) -> None:
    logging.basicConfig(level=logging.WARNING)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    steps, eps = (2, EPS[-1:]) if tiny else (STEPS, EPS)
    model = train(tiny_segmenter(), steps=5 if tiny else 150)
    evals = ["clean"] + [f"{a}{steps}_eps{e}" for e in eps for a in ("pgd", "mim", "houdini")]
    held_out = [scenes(16, seed=10_000 + i) for i in range(2)]
    res = evaluate(
        model,
        held_out,
        tasks=[SEG],
        evals=evals,
        attacked=[SEG],
        report=[SEG],
        device="cpu",
        seed=0,
    ).metrics
    print(json.dumps({e: round(res[e][SEG.name]["miou"], 2) for e in evals}, indent=1))


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv[1:])
