"""The Taskonomy network of Standley et al. (tstandley/taskgrouping) that the paper and its
code follow: a ResNet-18 encoder (randomly initialised, output stride 32) and per-task
decoders of five ×2 transposed-convolution stages. The first four stages refine with a 3×3
convolution; the last goes straight to the 3×3 head, as the reference ``Decoder`` does (no
conv at full resolution), and the decoder's convolutions keep their biases like the
reference's. ``width`` scales every channel count (64 = the paper) so the smoke preset runs
on a laptop CPU. The trunk and the decoders serve the ResNet-50 network too
(``models/resnet50_taskonomy.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from models.multitask import MultiTaskNet
from models.registry import register_arch
from models.weights import WeightsError
from tasks.registry import Task

PAPER_WIDTH = 64
DECODER_CHANNELS = (256, 128, 64, 48, 32)  # after the encoder's 512, at width 64


def scaled(channels: int, width: float) -> int:
    """Channels at ``width`` (64 = as published), never below 8."""
    return max(8, round(channels * width / PAPER_WIDTH))


def _stage(
    block: type[BasicBlock | Bottleneck], inplanes: int, planes: int, blocks: int, stride: int
) -> nn.Sequential:
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
        )
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(out, planes) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNetEncoder(nn.Sequential):
    """A torchvision ResNet trunk without its classifier: stem, max-pool and four stages of
    ``layers`` blocks, output stride 32; at width 64 the layers of torchvision's network."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        width: float = PAPER_WIDTH,
    ) -> None:
        c = [scaled(n, width) for n in (64, 128, 256, 512)]
        stages, inplanes = [], c[0]
        for i, (planes, blocks) in enumerate(zip(c, layers, strict=True)):
            stages.append(_stage(block, inplanes, planes, blocks, 1 if i == 0 else 2))
            inplanes = planes * block.expansion
        super().__init__(
            nn.Conv2d(3, c[0], 7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(c[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
            *stages,
        )
        self.out_channels = inplanes
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


class ResNet18Encoder(ResNetEncoder):
    """ResNet-18 without its classifier: stem, max-pool and four stages of two blocks."""

    def __init__(self, width: float = PAPER_WIDTH) -> None:
        super().__init__(BasicBlock, (2, 2, 2, 2), width)


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


def taskonomy_net(
    arch: str,
    encoder: Callable[[float], ResNetEncoder],
    tasks: Sequence[Task],
    width: float | None,
    init_from: Path | None,
) -> MultiTaskNet:
    """``encoder`` at ``width`` + one Taskonomy decoder per task at the same width; trained
    from scratch, as the paper and Ghamizi et al. train their Taskonomy encoders."""
    if init_from is not None:
        raise WeightsError(
            f"init_from: {arch} has no published weights to load (the paper trains it "
            "from scratch); drop init_from"
        )
    w = PAPER_WIDTH if width is None else width
    trunk = encoder(w)
    decoders = {t.name: TaskonomyDecoder(trunk.out_channels, t.channels, w) for t in tasks}
    return MultiTaskNet(trunk, decoders)


@register_arch("resnet18")
def resnet18(
    tasks: Sequence[Task], width: float | None = None, init_from: Path | None = None
) -> MultiTaskNet:
    """ResNet-18 encoder + one Taskonomy decoder per task (the paper's Taskonomy network)."""
    return taskonomy_net("resnet18", ResNet18Encoder, tasks, width, init_from)
