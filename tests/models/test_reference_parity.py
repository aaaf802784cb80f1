"""Layer-for-layer parity with the reference networks, and loading fyu/drn's published weights.

The reference modules are re-stated here from their published structure (tstandley/
taskgrouping's ``Decoder``; fyu/drn's ``DRN`` arch D and ``DRNSeg``), by our own code: the
parameter names, shapes and the computation they imply. Nothing is downloaded.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from models import WeightsError, build_model
from models.drn import CHANNELS, CITYSCAPES_MEAN, CITYSCAPES_STD, DRN_D, drn_levels
from models.normalize import IMAGENET_MEAN, IMAGENET_STD
from models.resnet_taskonomy import TaskonomyDecoder
from tasks.errors import MtsweepError
from tasks.registry import parse_tasks

CITYSCAPES = parse_tasks("cityscapes", "sdA")


def randomize_bn(module: nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics and affine terms, so eval outputs depend on them."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def normalized(x: torch.Tensor, mean, std) -> torch.Tensor:
    return (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)


# ----------------------------------------------------------------- Taskonomy decoder


class RefTaskonomyDecoder(nn.Module):
    """taskgrouping's Decoder: upconv_i + bn_upconv_i (+ conv_decode_i + bn_decode_i for
    i < 4), ReLU after each BN, then conv_decode4 (3×3) to the outputs; PyTorch's default
    biases everywhere but the BNs' own."""

    def __init__(self, out_channels: int, base: int = 512, chans=(256, 128, 64, 48, 32)):
        super().__init__()
        cin = base
        for i, c in enumerate(chans):
            setattr(self, f"upconv{i}", nn.ConvTranspose2d(cin, c, 2, 2))
            setattr(self, f"bn_upconv{i}", nn.BatchNorm2d(c))
            if i < len(chans) - 1:
                setattr(self, f"conv_decode{i}", nn.Conv2d(c, c, 3, padding=1))
                setattr(self, f"bn_decode{i}", nn.BatchNorm2d(c))
            cin = c
        self.last = len(chans) - 1
        setattr(self, f"conv_decode{self.last}", nn.Conv2d(cin, out_channels, 3, padding=1))

    def forward(self, x):
        relu = torch.relu
        for i in range(self.last + 1):
            x = relu(getattr(self, f"bn_upconv{i}")(getattr(self, f"upconv{i}")(x)))
            if i < self.last:
                x = relu(getattr(self, f"bn_decode{i}")(getattr(self, f"conv_decode{i}")(x)))
        return getattr(self, f"conv_decode{self.last}")(x)


def _reference_name(key: str) -> str:
    """Our ``stage.layer.param`` → the reference's attribute name."""
    m = re.fullmatch(r"(\d+)\.(?:(\d+)\.)?(.+)", key)
    stage, layer, param = int(m[1]), m[2], m[3]
    if layer is None:  # the head after the five stages
        return f"conv_decode4.{param}"
    name = {"0": "upconv", "1": "bn_upconv", "3": "conv_decode", "4": "bn_decode"}[layer]
    return f"{name}{stage}.{param}"


def test_taskonomy_decoder_is_the_reference_decoder():
    ours, ref = TaskonomyDecoder(512, 18), RefTaskonomyDecoder(18)
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    mapped = {_reference_name(k): v for k, v in ours_sd.items()}
    assert set(mapped) == set(ref_sd)
    assert all(mapped[k].shape == ref_sd[k].shape for k in ref_sd)
    assert sum(isinstance(m, nn.Conv2d) for m in ours.modules()) == 5  # 4 refinements + head
    randomize_bn(ref)
    ours.load_state_dict({k: ref.state_dict()[_reference_name(k)] for k in ours_sd})
    x = torch.randn(2, 512, 2, 2)
    with torch.no_grad():
        assert torch.allclose(ours.eval()(x), ref.eval()(x), atol=1e-5)


# ----------------------------------------------------------------- DRN-D (fyu/drn)


class RefBlock(nn.Module):
    """fyu/drn's BasicBlock / Bottleneck with its (d1, d2) dilation pair."""

    def __init__(self, cin, planes, stride, dilation, bottleneck, downsample):
        super().__init__()
        self.bottleneck = bottleneck
        d1, d2 = dilation
        if bottleneck:
            self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, d2, d2, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(planes * 4)
        else:
            self.conv1 = nn.Conv2d(cin, planes, 3, stride, d1, d1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, d2, d2, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.bottleneck:
            out = self.bn3(self.conv3(torch.relu(out)))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class RefDRND(nn.Module):
    """fyu/drn's ``DRN(arch='D')``: layer0-8 built by its _make_layer/_make_conv_layers
    rules (levels 5 and 6 with new_level=False), and the 1×1 ``fc`` classifier."""

    def __init__(self, layers, bottleneck, channels, classes=10):
        super().__init__()
        self.bottleneck, self.inplanes = bottleneck, channels[0]
        self.layer0 = nn.Sequential(
            nn.Conv2d(3, channels[0], 7, 1, 3, bias=False),
            nn.BatchNorm2d(channels[0]),
            nn.ReLU(True),
        )
        self.layer1 = self._convs(channels[0], layers[0], 1, 1)
        self.layer2 = self._convs(channels[1], layers[1], 2, 1)
        self.layer3 = self._blocks(channels[2], layers[2], stride=2)
        self.layer4 = self._blocks(channels[3], layers[3], stride=2)
        self.layer5 = self._blocks(channels[4], layers[4], dilation=2, new_level=False)
        self.layer6 = self._blocks(channels[5], layers[5], dilation=4, new_level=False)
        self.layer7 = self._convs(channels[6], layers[6], 1, 2)
        self.layer8 = self._convs(channels[7], layers[7], 1, 1)
        self.fc = nn.Conv2d(channels[7], classes, 1, bias=True)

    def _blocks(self, planes, blocks, stride=1, dilation=1, new_level=True):
        out = planes * (4 if self.bottleneck else 1)
        down = None
        if stride != 1 or self.inplanes != out:
            down = nn.Sequential(
                nn.Conv2d(self.inplanes, out, 1, stride, bias=False), nn.BatchNorm2d(out)
            )
        first = (1, 1) if dilation == 1 else (dilation // 2 if new_level else dilation, dilation)
        mods = [RefBlock(self.inplanes, planes, stride, first, self.bottleneck, down)]
        mods += [
            RefBlock(out, planes, 1, (dilation, dilation), self.bottleneck, None)
            for _ in range(blocks - 1)
        ]
        self.inplanes = out
        return nn.Sequential(*mods)

    def _convs(self, channels, convs, stride, dilation):
        mods = []
        for i in range(convs):
            stride_i = stride if i == 0 else 1
            mods += [
                nn.Conv2d(self.inplanes, channels, 3, stride_i, dilation, dilation, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(True),
            ]
            self.inplanes = channels
        return nn.Sequential(*mods)

    def levels(self) -> list[nn.Module]:
        return [getattr(self, f"layer{i}") for i in range(9)]

    def features(self, x):
        for level in self.levels():
            x = level(x)
        return x


class RefDRNSeg(nn.Module):
    """fyu/drn's ``DRNSeg``: ``base`` = the DRN's layer0-8, ``seg`` 1×1 head, fixed ``up``."""

    def __init__(self, drn: RefDRND, classes: int):
        super().__init__()
        self.base = nn.Sequential(*drn.levels())
        self.seg = nn.Conv2d(drn.fc.in_channels, classes, 1, bias=True)
        self.up = nn.ConvTranspose2d(classes, classes, 16, 8, 4, groups=classes, bias=False)

    def forward(self, x):
        return self.seg(self.base(x))


def _channels(width: float) -> tuple[int, ...]:
    return tuple(max(8, round(c * width)) for c in CHANNELS)


def _ref(arch: str, width: float, seed: int = 0) -> RefDRND:
    torch.manual_seed(seed)
    cfg = DRN_D[arch]
    ref = RefDRND(cfg.layers, cfg.bottleneck, _channels(width))
    randomize_bn(ref, seed)
    return ref.eval()


def _stride8(model, task: str, x: torch.Tensor) -> torch.Tensor:
    """A task's decoder output before up-sampling (the model's own normalisation first)."""
    return model.decoders[task](model.encoder(model.normalize(x)))


@pytest.mark.parametrize("arch", list(DRN_D))
def test_drn_levels_have_fyu_drn_names_and_shapes_at_published_size(arch):
    with torch.device("meta"):
        ours = drn_levels(arch)
        ref = RefDRND(DRN_D[arch].layers, DRN_D[arch].bottleneck, CHANNELS, classes=1000)
    for i, ((level, _), ref_level) in enumerate(zip(ours, ref.levels(), strict=True)):
        mine = {k: v.shape for k, v in level.state_dict().items()}
        theirs = {k: v.shape for k, v in ref_level.state_dict().items()}
        assert mine == theirs, f"level {i}"


@pytest.mark.parametrize(("arch", "width"), [("drn_d_22", 0.25), ("drn_d_105", 0.125)])
def test_imagenet_weights_load_and_compute_what_fyu_drn_computes(tmp_path, arch, width):
    ref = _ref(arch, width)
    path = tmp_path / "drn.pth"
    torch.save(ref.state_dict(), path)
    model = build_model(arch, CITYSCAPES, width, init_from=path).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = ref.features(normalized(x, IMAGENET_MEAN, IMAGENET_STD))
        for t in CITYSCAPES:
            features = model.decoders[t.name][:3](model.encoder(model.normalize(x)))
            assert torch.allclose(features, expected, atol=1e-4), t.name
    # the 1000-way classifier is no task head: heads keep their own initialisation
    head = model.decoders["segment_semantic"][3]
    assert head.weight.shape[0] == 19 and not torch.equal(head.bias, ref.fc.bias[:19])


def test_first_blocks_of_levels_5_and_6_use_the_full_dilation(tmp_path):
    """A half-dilation first block (the DRN paper's prose) would change the outputs."""
    ref = _ref("drn_d_22", 0.25, seed=1)
    torch.save(ref.state_dict(), tmp_path / "drn.pth")
    model = build_model("drn_d_22", CITYSCAPES[:1], 0.25, init_from=tmp_path / "drn.pth").eval()
    for level, dilation in ((5, 2), (6, 4)):
        block = (model.encoder[level] if level < 6 else model.decoders["segment_semantic"][0])[0]
        assert block.conv1.dilation == block.conv2.dilation == (dilation, dilation)


def test_cityscapes_weights_load_with_their_head_and_normalisation(tmp_path):
    ref = RefDRNSeg(_ref("drn_d_22", 0.25, seed=2), classes=19)
    torch.manual_seed(3)
    nn.init.normal_(ref.seg.bias)
    path = tmp_path / "drn_d_22_cityscapes.pth"
    # as segment.py saves a DataParallel training checkpoint
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, path)
    model = build_model("drn_d_22", CITYSCAPES, 0.25, init_from=path).eval()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        expected = ref.eval()(normalized(x, CITYSCAPES_MEAN, CITYSCAPES_STD))
        assert torch.allclose(_stride8(model, "segment_semantic", x), expected, atol=1e-4)
        assert model(x)["segment_semantic"].shape == (2, 19, 64, 64)
    assert torch.equal(model.decoders["segment_semantic"][3].bias, ref.seg.bias)
    depth_head = model.decoders["depth"][3]
    assert depth_head.weight.shape[0] == 1  # a regression head is not the seg head
    assert torch.equal(model.decoders["depth"][0][0].conv1.weight, ref.base[6][0].conv1.weight)


def _saved(tmp_path: Path, state: dict) -> Path:
    path = tmp_path / "w.pth"
    torch.save(state, path)
    return path


def test_weights_that_do_not_fit_are_refused_in_one_line(tmp_path):
    good = _ref("drn_d_22", 0.25).state_dict()
    cases = {
        "layer3.0.conv1.weight": {k: v for k, v in good.items() if k != "layer3.0.conv1.weight"},
        "layer9.conv.weight": {**good, "layer9.conv.weight": torch.zeros(1)},
        "shape": good,  # the right keys at another width
        "fyu/drn checkpoint": {"conv1.weight": torch.zeros(1)},
    }
    for expected, state in cases.items():
        width = 0.5 if expected == "shape" else 0.25
        with pytest.raises(WeightsError, match=re.escape(expected)) as err:
            build_model("drn_d_22", CITYSCAPES[:1], width, init_from=_saved(tmp_path, state))
        assert isinstance(err.value, MtsweepError) and "\n" not in str(err.value)


def test_old_checkpoints_without_bn_counters_load(tmp_path):
    ref = _ref("drn_d_22", 0.25, seed=4).eval()
    state = {k: v for k, v in ref.state_dict().items() if "num_batches" not in k}
    model = build_model("drn_d_22", CITYSCAPES[:1], 0.25, init_from=_saved(tmp_path, state))
    # every tensor of the file but the 1000-way classifier is in the model, statistics too
    mine = list(model.state_dict().values())
    for key, value in state.items():
        if not key.startswith("fc."):
            assert any(m.shape == value.shape and torch.equal(m, value) for m in mine), key
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        expected = ref.features(normalized(x, IMAGENET_MEAN, IMAGENET_STD))
        model.eval()
        features = model.decoders[CITYSCAPES[0].name][:3](model.encoder(model.normalize(x)))
    assert torch.allclose(features, expected, atol=1e-4)


def test_missing_unreadable_and_unsupported_weights_are_user_errors(tmp_path):
    with pytest.raises(WeightsError, match="no weights file"):
        build_model("drn_d_22", CITYSCAPES[:1], 0.25, init_from=tmp_path / "none.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="not a PyTorch state dict"):
        build_model("drn_d_22", CITYSCAPES[:1], 0.25, init_from=junk)
    with pytest.raises(WeightsError, match="resnet18"):
        build_model("resnet18", parse_tasks("taskonomy", "s"), 8, init_from=junk)
