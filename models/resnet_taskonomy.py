"""The Taskonomy network of Standley et al. (tstandley/taskgrouping) that the paper and its
code follow: a ResNet-18 encoder (randomly initialised, output stride 32) and per-task
decoders of five ×2 transposed-convolution stages. The first four stages refine with a 3×3
convolution; the last goes straight to the 3×3 head, as the reference ``Decoder`` does (no
conv at full resolution), and the decoder's convolutions keep their biases like the
reference's. ``width`` scales every channel count (64 = the paper) so the smoke preset runs
on a laptop CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import nn
from torchvision.models.resnet import BasicBlock

from models.multitask import MultiTaskNet
from models.registry import register_arch
from models.weights import WeightsError
from tasks.registry import Task

PAPER_WIDTH = 64
DECODER_CHANNELS = (256, 128, 64, 48, 32)  # after the encoder's 512, at width 64


def scaled(channels: int, width: float) -> int:
    """Channels at ``width`` (64 = as published), never below 8."""
    return max(8, round(channels * width / PAPER_WIDTH))


def _stage(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    downsample = None
    if stride != 1 or inplanes != planes:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
        )
    layers = [BasicBlock(inplanes, planes, stride, downsample)]
    layers += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNet18Encoder(nn.Sequential):
    """ResNet-18 without its classifier: stem, max-pool and four stages of two blocks."""

    def __init__(self, width: float = PAPER_WIDTH) -> None:
        c = [scaled(n, width) for n in (64, 128, 256, 512)]
        super().__init__(
            nn.Conv2d(3, c[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(c[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
            _stage(c[0], c[0], 2, 1),
            _stage(c[0], c[1], 2, 2),
            _stage(c[1], c[2], 2, 2),
            _stage(c[2], c[3], 2, 2),
        )
        self.out_channels = c[3]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def _up_stage(cin: int, cout: int, refine: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.ConvTranspose2d(cin, cout, 2, stride=2),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]
    if refine:
        layers += [nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class TaskonomyDecoder(nn.Sequential):
    """Five ConvTranspose(×2) stages back to the input resolution, then a 3×3 head."""

    def __init__(self, in_channels: int, out_channels: int, width: float = PAPER_WIDTH) -> None:
        chans = [in_channels] + [scaled(n, width) for n in DECODER_CHANNELS]
        last = len(DECODER_CHANNELS) - 1
        stages = [
            _up_stage(a, b, refine=i < last)
            for i, (a, b) in enumerate(zip(chans[:-1], chans[1:], strict=True))
        ]
        super().__init__(*stages, nn.Conv2d(chans[-1], out_channels, 3, padding=1))


@register_arch("resnet18")
def resnet18(
    tasks: Sequence[Task], width: float | None = None, init_from: Path | None = None
) -> MultiTaskNet:
    """ResNet-18 encoder + one Taskonomy decoder per task (the paper's Taskonomy network)."""
    if init_from is not None:
        raise WeightsError(
            "init_from: resnet18 has no published weights to load (the paper trains it "
            "from scratch); drop init_from"
        )
    w = PAPER_WIDTH if width is None else width
    encoder = ResNet18Encoder(w)
    decoders = {t.name: TaskonomyDecoder(encoder.out_channels, t.channels, w) for t in tasks}
    return MultiTaskNet(encoder, decoders)
