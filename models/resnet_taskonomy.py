"""The Taskonomy network of Standley et al. (tstandley/taskgrouping) that the paper and its
code follow: a ResNet-18 encoder (randomly initialised, output stride 32) and per-task
decoders of five ×2 transposed-convolution stages. The first four stages refine with a 3×3
convolution; the last goes straight to the 3×3 head, as the reference ``Decoder`` does (no
conv at full resolution), and the decoder's convolutions keep their biases like the
reference's. ``width`` scales every channel count (64 = the paper) so the smoke preset runs
on a laptop CPU. The trunk and the decoders serve the ResNet-50 network too
(``models/resnet50_taskonomy.py``).

Two options build another network than the paper's, for the smoke presets' 32-px images,
where a stride-32 encoder is left one feature pixel and segmentation never learns in a few
dozen steps. ``output_stride`` 8 or 16 keeps the last stages at a finer resolution with
dilated convolutions instead of strides, as DeepLab and DRN do; the decoder's first stages
then keep the resolution (3×3 convolutions in place of the ×2 transposed ones), so the
output is still at the input's size. ``decoder="linear"`` gives each task a 1×1
convolution on the encoder's features instead, up-sampled bilinearly to the input (as
DRN's head), which learns segmentation from few images where the deep decoder does not.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from models.multitask import MultiTaskNet
from models.registry import PUBLISHED
from models.weights import WeightsError
from mtsweep.errors import MtsweepError
from tasks.registry import Task

PAPER_WIDTH = 64
DECODER_CHANNELS = (256, 128, 64, 48, 32)  # after the encoder's 512, at width 64
PAPER_STRIDE = 32
OUTPUT_STRIDES = (8, 16, PAPER_STRIDE)
STEM_STRIDE = 4  # the stride-2 stem convolution and the stride-2 max-pool
LINEAR = "linear"  # the other decoder a Taskonomy network can have (besides PUBLISHED)


def scaled(channels: int, width: float) -> int:
    """Channels at ``width`` (64 = as published), never below 8."""
    return max(8, round(channels * width / PAPER_WIDTH))


def _dilate(block: nn.Module, dilation: int) -> None:
    """Dilate a block's 3×3 convolutions (padding along, so the size is kept); torchvision's
    BasicBlock refuses a dilation at construction, so it is set on the built convolutions."""
    for m in block.modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
            m.dilation, m.padding = (dilation, dilation), (dilation, dilation)


def _stage(
    block: type[BasicBlock | Bottleneck],
    inplanes: int,
    planes: int,
    blocks: int,
    stride: int,
    dilation: int = 1,
) -> nn.Sequential:
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
        )
    layers = [block(inplanes, planes, stride, downsample)]
    layers += [block(out, planes) for _ in range(blocks - 1)]
    if dilation > 1:
        for layer in layers:
            _dilate(layer, dilation)
    return nn.Sequential(*layers)


def check_output_stride(output_stride: int) -> None:
    """Refuse, in one line, a stride the stem and the four stages cannot give."""
    if output_stride not in OUTPUT_STRIDES:
        choices = ", ".join(map(str, OUTPUT_STRIDES))
        raise MtsweepError(f"model.output_stride: {output_stride} is not one of {choices}")


class ResNetEncoder(nn.Sequential):
    """A torchvision ResNet trunk without its classifier: stem, max-pool and four stages of
    ``layers`` blocks; at width 64 and output stride 32 the layers of torchvision's network.
    A smaller ``output_stride`` dilates the last stages instead of striding them."""

    def __init__(
        self,
        block: type[BasicBlock | Bottleneck],
        layers: Sequence[int],
        width: float = PAPER_WIDTH,
        output_stride: int = PAPER_STRIDE,
    ) -> None:
        check_output_stride(output_stride)
        c = [scaled(n, width) for n in (64, 128, 256, 512)]
        stages, inplanes = [], c[0]
        reached, dilation = STEM_STRIDE, 1
        for i, (planes, blocks) in enumerate(zip(c, layers, strict=True)):
            stride = 1 if i == 0 else 2
            if stride > 1 and reached * stride > output_stride:
                stride, dilation = 1, dilation * stride
            reached *= stride
            stages.append(_stage(block, inplanes, planes, blocks, stride, dilation))
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

    def __init__(self, width: float = PAPER_WIDTH, output_stride: int = PAPER_STRIDE) -> None:
        super().__init__(BasicBlock, (2, 2, 2, 2), width, output_stride)


def _up_stage(cin: int, cout: int, refine: bool, upsample: bool = True) -> nn.Sequential:
    first = (
        nn.ConvTranspose2d(cin, cout, 2, stride=2)
        if upsample
        else nn.Conv2d(cin, cout, 3, padding=1)  # an encoder that stopped striding earlier
    )
    layers: list[nn.Module] = [first, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    if refine:
        layers += [nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class TaskonomyDecoder(nn.Sequential):
    """Five ConvTranspose(×2) stages back to the input resolution, then a 3×3 head; from a
    finer ``output_stride`` the first stages keep the resolution."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: float = PAPER_WIDTH,
        output_stride: int = PAPER_STRIDE,
    ) -> None:
        check_output_stride(output_stride)
        chans = [in_channels] + [scaled(n, width) for n in DECODER_CHANNELS]
        last = len(DECODER_CHANNELS) - 1
        flat = last + 1 - int(math.log2(output_stride))  # stages that do not upsample
        stages = [
            _up_stage(a, b, refine=i < last, upsample=i >= flat)
            for i, (a, b) in enumerate(zip(chans[:-1], chans[1:], strict=True))
        ]
        super().__init__(*stages, nn.Conv2d(chans[-1], out_channels, 3, padding=1))


def taskonomy_net(
    arch: str,
    encoder: Callable[[float, int], ResNetEncoder],
    tasks: Sequence[Task],
    width: float | None,
    init_from: Path | None,
    output_stride: int | None = None,
    decoder: str = PUBLISHED,
) -> MultiTaskNet:
    """``encoder`` at ``width`` + one Taskonomy decoder per task at the same width (or, with
    ``decoder`` 'linear', a 1×1 convolution per task); trained from scratch, as the paper and
    Ghamizi et al. train their Taskonomy encoders. None for ``width`` or ``output_stride``:
    the published network's (64, 32)."""
    if init_from is not None:
        raise WeightsError(
            f"init_from: {arch} has no published weights to load (the paper trains it "
            "from scratch); drop init_from"
        )
    w = PAPER_WIDTH if width is None else width
    stride = PAPER_STRIDE if output_stride is None else output_stride
    trunk = encoder(w, stride)
    if decoder not in (PUBLISHED, LINEAR):
        raise MtsweepError(f"model.decoder: {decoder!r} is not one of {PUBLISHED}, {LINEAR}")
    if decoder == LINEAR:  # MultiTaskNet up-samples the outputs to the input's size
        heads = {t.name: nn.Conv2d(trunk.out_channels, t.channels, 1) for t in tasks}
        return MultiTaskNet(trunk, heads)
    decoders = {t.name: TaskonomyDecoder(trunk.out_channels, t.channels, w, stride) for t in tasks}
    return MultiTaskNet(trunk, decoders)


def resnet18(
    tasks: Sequence[Task],
    width: float | None = None,
    init_from: Path | None = None,
    output_stride: int | None = None,
    decoder: str = PUBLISHED,
) -> MultiTaskNet:
    """ResNet-18 encoder + one Taskonomy decoder per task (the paper's Taskonomy network)."""
    return taskonomy_net(
        "resnet18", ResNet18Encoder, tasks, width, init_from, output_stride, decoder
    )
