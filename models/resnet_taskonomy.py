"""The Taskonomy network of Standley et al. that the paper follows: a ResNet-18 encoder
(randomly initialised, output stride 32) and per-task decoders of five ×2 up-sampling
stages. ``width`` scales every channel count (64 = the paper) so the smoke preset runs
on a laptop CPU."""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock

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


def _up_stage(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(cin, cout, 2, stride=2, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class TaskonomyDecoder(nn.Sequential):
    """Five ConvTranspose(×2) stages back to the input resolution, then a 3×3 head."""

    def __init__(self, in_channels: int, out_channels: int, width: float = PAPER_WIDTH) -> None:
        chans = [in_channels] + [scaled(n, width) for n in DECODER_CHANNELS]
        stages = [_up_stage(a, b) for a, b in zip(chans[:-1], chans[1:], strict=True)]
        super().__init__(*stages, nn.Conv2d(chans[-1], out_channels, 3, padding=1))
