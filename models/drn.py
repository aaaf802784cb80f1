"""Dilated residual networks, variant D (Yu, Koltun & Funkhouser, CVPR 2017), written from
the paper: a convolutional stem (levels 0-2, no max-pool), residual levels 3-6 where
levels 5 and 6 trade striding for dilation 2 and 4 (output stride 8), and levels 7-8 of
plain dilated convolutions without residuals, which remove the gridding artefacts.

For the paper's multitask Cityscapes model the network splits after level 5: levels 0-5
form the shared encoder and every task gets its *own* copy of levels 6-8, a 1×1
classifier and bilinear up-sampling (the original code reused one copy for all tasks).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)  # levels 1-8 at width 1.0
SHARED_LEVELS = 6  # levels 0..5 are shared; 6..8 are each task's decoder


@dataclass(frozen=True)
class DRNConfig:
    """Blocks per level 1-8 and the residual block kind of one published depth."""

    layers: tuple[int, ...]
    bottleneck: bool


ARCHS = {
    "drn_d_22": DRNConfig((1, 1, 2, 2, 2, 2, 1, 1), bottleneck=False),
    "drn_d_105": DRNConfig((1, 1, 3, 4, 23, 3, 1, 1), bottleneck=True),
}


def _conv_bn_relu(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


def _shortcut(cin: int, cout: int, stride: int) -> nn.Module:
    if stride == 1 and cin == cout:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Two 3×3 convolutions with their own dilations and an identity/projection shortcut."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, dilation: tuple[int, int]) -> None:
        super().__init__()
        d1, d2 = dilation
        self.body = nn.Sequential(
            *_conv_bn_relu(cin, planes, stride, d1),
            nn.Conv2d(planes, planes, 3, padding=d2, dilation=d2, bias=False),
            nn.BatchNorm2d(planes),
        )
        self.shortcut = _shortcut(cin, planes, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


class Bottleneck(nn.Module):
    """1×1 reduce, dilated 3×3, 1×1 expand (×4), with a shortcut."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, dilation: tuple[int, int]) -> None:
        super().__init__()
        out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(cin, planes, 1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            *_conv_bn_relu(planes, planes, stride, dilation[1]),
            nn.Conv2d(planes, out, 1, bias=False),
            nn.BatchNorm2d(out),
        )
        self.shortcut = _shortcut(cin, out, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.body(x) + self.shortcut(x))


def _residual_level(
    block: type[nn.Module], cin: int, planes: int, blocks: int, stride: int, dilation: int
) -> tuple[nn.Sequential, int]:
    # The first block of a newly dilated level steps in at half its dilation, as in the paper.
    first = (1, 1) if dilation == 1 else (dilation // 2, dilation)
    layers = [block(cin, planes, stride, first)]
    out = planes * block.expansion
    layers += [block(out, planes, 1, (dilation, dilation)) for _ in range(blocks - 1)]
    return nn.Sequential(*layers), out


def drn_levels(arch: str, width: float = 1.0) -> list[tuple[nn.Sequential, int]]:
    """The nine levels 0-8 of a DRN-D as (module, output channels), before any split."""
    if arch not in ARCHS:
        raise ValueError(f"unknown DRN {arch!r}; known: {', '.join(ARCHS)}")
    cfg = ARCHS[arch]
    block = Bottleneck if cfg.bottleneck else BasicBlock
    ch = [max(8, round(c * width)) for c in CHANNELS]
    n = cfg.layers
    levels: list[tuple[nn.Sequential, int]] = []
    levels.append((nn.Sequential(*_conv_bn_relu_k7(3, ch[0])), ch[0]))
    levels.append((_conv_level(ch[0], ch[0], n[0], stride=1, dilation=1), ch[0]))
    levels.append((_conv_level(ch[0], ch[1], n[1], stride=2, dilation=1), ch[1]))
    cin = ch[1]
    for i, (stride, dilation) in zip((2, 3, 4, 5), ((2, 1), (2, 1), (1, 2), (1, 4)), strict=True):
        level, cin = _residual_level(block, cin, ch[i], n[i], stride, dilation)
        levels.append((level, cin))
    levels.append((_conv_level(cin, ch[6], n[6], stride=1, dilation=2), ch[6]))
    levels.append((_conv_level(ch[6], ch[7], n[7], stride=1, dilation=1), ch[7]))
    return levels


def _conv_bn_relu_k7(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 7, padding=3, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


def _conv_level(cin: int, cout: int, convs: int, stride: int, dilation: int) -> nn.Sequential:
    layers = _conv_bn_relu(cin, cout, stride, dilation)
    for _ in range(convs - 1):
        layers += _conv_bn_relu(cout, cout, 1, dilation)
    return nn.Sequential(*layers)


def _init(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def drn_encoder(arch: str, width: float = 1.0) -> tuple[nn.Sequential, int]:
    """Levels 0-5: the part every task shares; returns it with its output channels."""
    levels = drn_levels(arch, width)[:SHARED_LEVELS]
    encoder = nn.Sequential(*(m for m, _ in levels))
    _init(encoder)
    return encoder, levels[-1][1]


def drn_decoder(arch: str, out_channels: int, width: float = 1.0) -> nn.Sequential:
    """Levels 6-8 and a 1×1 classifier: one task's private decoder (the model up-samples)."""
    levels = drn_levels(arch, width)[SHARED_LEVELS:]
    decoder = nn.Sequential(*(m for m, _ in levels), nn.Conv2d(levels[-1][1], out_channels, 1))
    _init(decoder)
    return decoder
