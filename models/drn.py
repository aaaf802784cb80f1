"""Dilated residual networks, variant D (Yu, Koltun & Funkhouser, CVPR 2017), built as the
released code fyu/drn builds them, so its published weights load: a convolutional stem
(levels 0-2, no max-pool), residual levels 3-6 where levels 5 and 6 trade striding for
dilation 2 and 4 (output stride 8), and levels 7-8 of plain dilated convolutions without
residuals, which remove the gridding artefacts. Every block of levels 5 and 6 runs at its
level's full dilation (fyu/drn's ``new_level=False``), and modules carry fyu/drn's names
(``conv1``, ``bn1``, ``downsample``…) so a checkpoint maps onto them level by level.

For the paper's multitask Cityscapes model the network splits after level 5: levels 0-5
form the shared encoder and every task gets its *own* copy of levels 6-8 and a 1×1 head
(output at stride 8; the model up-samples bilinearly). The authors' code reused one copy
for all tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from models.multitask import MultiTaskNet
from models.weights import WeightsError, check_keys, read_state_dict
from tasks.cityscapes_data import CITYSCAPES_MEAN, CITYSCAPES_STD
from tasks.registry import Task

log = logging.getLogger(__name__)

CHANNELS = (16, 32, 64, 128, 256, 512, 512, 512)  # levels 1-8 at width 1.0
SHARED_LEVELS = 6  # levels 0..5 are shared; 6..8 are each task's decoder
LEVELS = 9


@dataclass(frozen=True)
class DRNConfig:
    """Blocks per level 1-8 and the residual block kind of one published depth."""

    layers: tuple[int, ...]
    bottleneck: bool


DRN_D = {
    "drn_d_22": DRNConfig((1, 1, 2, 2, 2, 2, 1, 1), bottleneck=False),
    "drn_d_105": DRNConfig((1, 1, 3, 4, 23, 3, 1, 1), bottleneck=True),
}


def _downsample(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


def _conv3x3(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, padding=dilation, dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    """Two dilated 3×3 convolutions and an identity/projection shortcut."""

    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, planes, stride, dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = _downsample(cin, planes, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 reduce, dilated (and strided) 3×3, 1×1 expand ×4, with a shortcut."""

    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int, dilation: int) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = _downsample(cin, out, stride)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _residual_level(
    block: type[BasicBlock | Bottleneck],
    cin: int,
    planes: int,
    blocks: int,
    stride: int,
    dilation: int,
) -> tuple[nn.Sequential, int]:
    out = planes * block.expansion
    layers = [block(cin, planes, stride, dilation)]
    layers += [block(out, planes, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers), out


def _conv_level(cin: int, cout: int, convs: int, stride: int, dilation: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(convs):
        layers += [
            _conv3x3(cin if i == 0 else cout, cout, stride if i == 0 else 1, dilation),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


def drn_levels(arch: str, width: float = 1.0) -> list[tuple[nn.Sequential, int]]:
    """The nine levels 0-8 of a DRN-D as (module, output channels), before any split."""
    cfg = DRN_D[arch]
    block = Bottleneck if cfg.bottleneck else BasicBlock
    ch = [max(8, round(c * width)) for c in CHANNELS]
    n = cfg.layers
    stem = nn.Sequential(
        nn.Conv2d(3, ch[0], 7, padding=3, bias=False), nn.BatchNorm2d(ch[0]), nn.ReLU(True)
    )
    levels = [
        (stem, ch[0]),
        (_conv_level(ch[0], ch[0], n[0], stride=1, dilation=1), ch[0]),
        (_conv_level(ch[0], ch[1], n[1], stride=2, dilation=1), ch[1]),
    ]
    cin = ch[1]
    for i, stride, dilation in ((2, 2, 1), (3, 2, 1), (4, 1, 2), (5, 1, 4)):
        level, cin = _residual_level(block, cin, ch[i], n[i], stride, dilation)
        levels.append((level, cin))
    levels.append((_conv_level(cin, ch[6], n[6], stride=1, dilation=2), ch[6]))
    levels.append((_conv_level(ch[6], ch[7], n[7], stride=1, dilation=1), ch[7]))
    return levels


def _init(module: nn.Module) -> None:
    # N(0, 2/(k·k·out)) as fyu/drn initialises, biases (only the head's) at zero.
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def drn_encoder(arch: str, width: float = 1.0) -> tuple[nn.Sequential, int]:
    """Levels 0-5: the part every task shares; returns it with its output channels."""
    levels = drn_levels(arch, width)[:SHARED_LEVELS]
    encoder = nn.Sequential(*(m for m, _ in levels))
    _init(encoder)
    return encoder, levels[-1][1]


def drn_decoder(arch: str, out_channels: int, width: float = 1.0) -> nn.Sequential:
    """Levels 6-8 and a 1×1 head: one task's private decoder, output at stride 8."""
    levels = drn_levels(arch, width)[SHARED_LEVELS:]
    decoder = nn.Sequential(*(m for m, _ in levels), nn.Conv2d(levels[-1][1], out_channels, 1))
    _init(decoder)
    return decoder


def _build(
    arch: str, tasks: Sequence[Task], width: float | None, init_from: Path | None
) -> MultiTaskNet:
    w = 1.0 if width is None else float(width)
    encoder, _ = drn_encoder(arch, w)
    model = MultiTaskNet(encoder, {t.name: drn_decoder(arch, t.channels, w) for t in tasks})
    if init_from is not None:
        load_fyu_weights(model, arch, tasks, init_from)
    return model


def drn_d_22(
    tasks: Sequence[Task], width: float | None = None, init_from: Path | None = None
) -> MultiTaskNet:
    """DRN-D-22 (basic blocks): the paper's Cityscapes network, 16 shared layers + 6 per task."""
    return _build("drn_d_22", tasks, width, init_from)


def drn_d_105(
    tasks: Sequence[Task], width: float | None = None, init_from: Path | None = None
) -> MultiTaskNet:
    """DRN-D-105 (bottleneck blocks): the paper's network for the output-dimension study."""
    return _build("drn_d_105", tasks, width, init_from)


# ------------------------------------------------------------------ published weights


@dataclass(frozen=True)
class _Format:
    """Where a fyu/drn checkpoint keeps level i, its head, and what it holds besides."""

    name: str
    level_prefix: str  # format with the level index
    head_prefix: str | None  # the segmentation head, if the file has one
    ignored: tuple[str, ...]  # keys that have no counterpart here


_IMAGENET = _Format("ImageNet classifier", "layer{}.", None, ("fc.weight", "fc.bias"))
# The fixed bilinear ConvTranspose ``up`` is replaced by the model's own up-sampling.
_CITYSCAPES = _Format("Cityscapes segmentation", "base.{}.", "seg.", ("up.weight",))


def _format_of(state: dict[str, torch.Tensor], path: Path) -> _Format:
    if any(k.startswith("base.") for k in state):
        return _CITYSCAPES
    if any(k.startswith("layer0.") for k in state):
        return _IMAGENET
    raise WeightsError(
        f"init_from: {path} is not a fyu/drn checkpoint: expected keys layer0.… "
        f"(ImageNet, drn_d_22-4bd2f8ea.pth) or base.0.… (Cityscapes, drn_d_22_cityscapes.pth)"
    )


def _optional(key: str) -> bool:
    # Checkpoints older than PyTorch 0.4 have no BatchNorm step counters.
    return key.endswith("num_batches_tracked")


def load_fyu_weights(model: MultiTaskNet, arch: str, tasks: Sequence[Task], path: Path) -> None:
    """Copy a fyu/drn checkpoint into ``model``: levels 0-5 into the encoder, levels 6-8
    into every task's decoder, and (Cityscapes format) the 1×1 segmentation head into each
    segmentation task's decoder; other heads keep their initialisation. A Cityscapes file
    also sets the input normalisation it was trained with.
    """
    state = read_state_dict(path)
    fmt = _format_of(state, path)
    modules = [*model.encoder, *next(iter(model.decoders.values()))[: LEVELS - SHARED_LEVELS]]
    heads = [t for t in tasks if t.kind == "segmentation"] if fmt.head_prefix else []
    expected: dict[str, list[str]] = {}  # file key -> the model keys it fills
    for level, module in enumerate(modules):
        for key in module.state_dict():
            src = fmt.level_prefix.format(level) + key
            if level < SHARED_LEVELS:
                expected[src] = [f"encoder.{level}.{key}"]
            else:
                index = level - SHARED_LEVELS
                expected[src] = [f"decoders.{t.name}.{index}.{key}" for t in tasks]
    if fmt.head_prefix is not None:
        head = LEVELS - SHARED_LEVELS
        for key in ("weight", "bias"):
            expected[fmt.head_prefix + key] = [f"decoders.{t.name}.{head}.{key}" for t in heads]
    missing = [k for k in expected if k not in state and not _optional(k)]
    unexpected = [k for k in state if k not in expected and k not in fmt.ignored]
    check_keys(path, f"a {arch} checkpoint in fyu/drn's {fmt.name} format", missing, unexpected)

    target = model.state_dict()
    for src, dests in expected.items():
        if src not in state:
            continue
        for dest in dests:
            if target[dest].shape != state[src].shape:
                raise WeightsError(
                    f"init_from: {path}: {src} has shape {tuple(state[src].shape)}, the model's "
                    f"{dest} {tuple(target[dest].shape)}; published weights need width: null "
                    f"and as many classes as the checkpoint"
                )
            target[dest] = state[src]
    model.load_state_dict(target)
    if fmt is _CITYSCAPES:
        model.normalize.mean.copy_(torch.tensor(CITYSCAPES_MEAN).view(1, -1, 1, 1))
        model.normalize.std.copy_(torch.tensor(CITYSCAPES_STD).view(1, -1, 1, 1))
    log.info(
        "loaded %s (%s format) into %s; heads from the file: %s",
        path,
        fmt.name,
        arch,
        ", ".join(t.name for t in heads) or "none",
    )
