"""A second Taskonomy encoder: torchvision's ResNet-50 trunk (bottleneck blocks 3-4-6-3,
2048 channels at output stride 32 at the published width) with the ResNet-18 network's
decoders at its width.

Ghamizi et al. (AAAI 2022) found the paper's multitask gain depends on the encoder; with
``--set arch=resnet50`` any Taskonomy sweep trains this network instead, so the question
can be asked of a second encoder with the same decoders, data and attacks. ``width``
scales every channel count as for ResNet-18 (64 = torchvision's network).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torchvision.models.resnet import Bottleneck

from models.multitask import MultiTaskNet
from models.registry import PUBLISHED
from models.resnet_taskonomy import PAPER_STRIDE, PAPER_WIDTH, ResNetEncoder, taskonomy_net
from tasks.registry import Task

LAYERS = (3, 4, 6, 3)


class ResNet50Encoder(ResNetEncoder):
    """ResNet-50 without its classifier: stem, max-pool and four bottleneck stages."""

    def __init__(self, width: float = PAPER_WIDTH, output_stride: int = PAPER_STRIDE) -> None:
        super().__init__(Bottleneck, LAYERS, width, output_stride)


def resnet50(
    tasks: Sequence[Task],
    width: float | None = None,
    init_from: Path | None = None,
    output_stride: int | None = None,
    decoder: str = PUBLISHED,
) -> MultiTaskNet:
    """ResNet-50 encoder + one Taskonomy decoder per task, trained from scratch."""
    return taskonomy_net(
        "resnet50", ResNet50Encoder, tasks, width, init_from, output_stride, decoder
    )
