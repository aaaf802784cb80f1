"""``build_model``: the one place a sweep's ``arch`` name becomes a network."""

from __future__ import annotations

from collections.abc import Sequence

from models.drn import ARCHS as DRN_ARCHS
from models.drn import drn_decoder, drn_encoder
from models.multitask import MultiTaskNet
from models.resnet_taskonomy import PAPER_WIDTH, ResNet18Encoder, TaskonomyDecoder
from tasks.registry import Task

ARCHS = ("resnet18", *DRN_ARCHS)


def build_model(arch: str, tasks: Sequence[Task], width: float | None = None) -> MultiTaskNet:
    """A shared-encoder network with one decoder per task.

    ``width`` is the ResNet base width (64 = the paper) or the DRN channel multiplier
    (1.0 = the paper); None means the published size.
    """
    if not tasks:
        raise ValueError("a model needs at least one task")
    if arch == "resnet18":
        w = PAPER_WIDTH if width is None else width
        encoder = ResNet18Encoder(w)
        decoders = {t.name: TaskonomyDecoder(encoder.out_channels, t.channels, w) for t in tasks}
        return MultiTaskNet(encoder, decoders)
    if arch in DRN_ARCHS:
        w = 1.0 if width is None else float(width)
        encoder, _ = drn_encoder(arch, w)
        decoders = {t.name: drn_decoder(arch, t.channels, w) for t in tasks}
        return MultiTaskNet(encoder, decoders)
    raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHS)}")
