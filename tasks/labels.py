"""Label decoders: the raw array of a label PNG to a training target and its valid pixels.

Each decoder takes the array :func:`tasks.reading.read_png` returns (uint8 or uint16, HxW or
HxWxC), checks the bit depth it expects and returns a :class:`Decoded` at the file's own
resolution; readers resize afterwards. Which decoder a task uses under which target
convention is the registry's business (:mod:`tasks.conventions`); the numbers here are the
sources' own, cited where they are defined.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import lazy_loader
import numpy as np

from tasks.errors import LabelError

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

CITYSCAPES_IGNORE = 255
TASKONOMY_SEG_IGNORE = 0  # "uncertain" pixels of Taskonomy's segment_semantic
UINT16_MAX = 65535


@dataclass(frozen=True)
class Decoded:
    """A decoded label: the training target and its valid-pixel mask (or None: all valid)."""

    target: torch.Tensor
    mask: torch.Tensor | None


Decoder = Callable[[np.ndarray], Decoded]


def _expect(arr: np.ndarray, dtype: type, channels: int | None) -> None:
    if arr.dtype != dtype:
        raise LabelError(f"expected a {np.dtype(dtype).itemsize * 8}-bit PNG, found {arr.dtype}")
    got = 1 if arr.ndim == 2 else arr.shape[2]
    if channels is not None and got < channels:
        raise LabelError(f"expected {channels} channel(s), found {got}")


def _chw(arr: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(arr).astype(np.float32))
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)


def _gray16(arr: np.ndarray) -> torch.Tensor:
    _expect(arr, np.uint16, 1)
    return _chw(arr if arr.ndim == 2 else arr[..., 0])


def signed(unit: torch.Tensor) -> torch.Tensor:
    """[0, 1] to [-1, 1], the range of the original Taskonomy targets."""
    return unit * 2.0 - 1.0


def _per_channel(values: tuple[float, ...]) -> torch.Tensor:
    """Per-channel constants shaped (C,1,1) to broadcast over a (C,H,W) target."""
    return torch.tensor(values).view(-1, 1, 1)


# --------------------------------------------------------------------- shared by both conventions


def decode_rgb(arr: np.ndarray) -> Decoded:
    """8-bit RGB in [0, 1]."""
    _expect(arr, np.uint8, 3)
    return Decoded(_chw(arr[..., :3]) / 255.0, None)


def decode_normal(arr: np.ndarray) -> Decoded:
    """127-centred 8-bit normals to [-1, 1] (channel 0 = x, pointing right in the image)."""
    _expect(arr, np.uint8, 3)
    return Decoded(signed(_chw(arr[..., :3]) / 255.0), None)


def decode_class_ids(arr: np.ndarray) -> Decoded:
    """An 8-bit class-id map as int64 (1,H,W); the loss ignores the dataset's ignore id."""
    _expect(arr, np.uint8, 1)
    if arr.ndim == 3:
        arr = arr[..., 0]
    return Decoded(torch.from_numpy(arr.astype(np.int64)).unsqueeze(0), None)


# --------------------------------------------------------------------- Standley et al.'s targets
# tstandley/taskgrouping taskonomy_loader.py (docs/formats.md §7): (v - offset)/scale.

STANDLEY_DEPTH_VALID_BELOW = 2**13  # 16 m in Taskonomy's 1/512 m units


def decode_depth_standley(arr: np.ndarray) -> Decoded:
    """(v - 1500)/1000 of the 1/512 m code (so 1 unit = 1.953 m), valid below 16 m."""
    raw = _gray16(arr)
    return Decoded((raw - 1500.0) / 1000.0, raw < STANDLEY_DEPTH_VALID_BELOW)


def affine16(offset: float, scale: float) -> Decoder:
    """A 16-bit gray label mapped to (v - offset) / scale, all pixels valid."""

    def decode(arr: np.ndarray) -> Decoded:
        return Decoded((_gray16(arr) - offset) / scale, None)

    return decode


def decode_reshading_standley(arr: np.ndarray) -> Decoded:
    """Channel mean in [0, 1], standardised with Standley's (0.4962, 0.2846)."""
    _expect(arr, np.uint8, None)
    t = _chw(arr) / 255.0
    return Decoded((t.mean(0, keepdim=True) - 0.4962) / 0.2846, None)


def decode_curvature_standley(arr: np.ndarray) -> Decoded:
    """Channels 0 and 1 in [0, 1], standardised with Standley's per-channel mean and std."""
    _expect(arr, np.uint8, 2)
    t = _chw(arr[..., :2]) / 255.0
    return Decoded((t - _per_channel((0.5175, 0.4987))) / _per_channel((0.1373, 0.0359)), None)


# --------------------------------------------------------------------- original Taskonomy targets
# StanfordVL/taskonomy load_ops.py and task configs, as MTRobust ships them
# (docs/formats.md §7): targets in [-1, 1] or log depth in [0, 1].

TASKONOMY_DEPTH_VALID_BELOW = 64500  # "roughly max value - 1000", margin for interpolation
TASKONOMY_EDGE_BLUR_SIGMA = 4.0  # Gaussian sigma in pixels of a 256-px target
TASKONOMY_TARGET_SIZE = 256
# dataloaders/new/data/semseg_prior_factor.npy in columbia/MTRobust: the weight of each of the
# 17 classes 0..16 (PNG value v >= 1 is class v - 1; v = 0 is masked).
SEMSEG_PRIOR_FACTOR = (
    0.54241015,
    9.16744426,
    7.33098964,
    7.16203488,
    8.72288504,
    7.61330311,
    8.23692385,
    9.14858036,
    8.82202253,
    9.08579179,
    8.91407327,
    9.17723224,
    9.03539023,
    8.60391777,
    9.16991691,
    9.14673021,
    9.13736169,
)


def decode_depth_log(arr: np.ndarray) -> Decoded:
    """log(1 + v) / log(2^16) in [0, 1], valid below 64500 (``resize_and_rescale_image_log``)."""
    raw = _gray16(arr)
    return Decoded(torch.log1p(raw) / math.log(2.0**16), raw < TASKONOMY_DEPTH_VALID_BELOW)


def _gaussian_blur(t: torch.Tensor, sigma: float) -> torch.Tensor:
    """A (C,H,W) map blurred like scipy's ``gaussian_filter`` (mirror padding, 4 sigma)."""
    radius = int(4.0 * sigma + 0.5)
    if radius < 1:
        return t
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    padded = np.pad(t.numpy(), ((0, 0), (radius, radius), (radius, radius)), mode="symmetric")
    out = torch.from_numpy(padded).unsqueeze(1)
    out = torch.nn.functional.conv2d(out, kernel.view(1, 1, 1, -1))
    out = torch.nn.functional.conv2d(out, kernel.view(1, 1, -1, 1))
    return out.squeeze(1)


def rescale16(top: float, clip: bool = True, blur: bool = False) -> Decoder:
    """v/65535 over [0, ``top``] to [-1, 1] (``resize_rescale_image`` with ``current_scale``).

    ``clip`` clips to [-1, 1] as the original does unless ``no_clip``; ``blur`` applies the
    Gaussian of ``resize_rescale_image_gaussian_blur`` (edge_occlusion). The original blurs
    a 256-px target with sigma 4; here the file is blurred before resizing, with sigma
    scaled to its width, so the result at 256 px is the same up to interpolation order.
    """

    def decode(arr: np.ndarray) -> Decoded:
        t = signed(_gray16(arr) / UINT16_MAX / top)
        if blur:
            t = _gaussian_blur(t, TASKONOMY_EDGE_BLUR_SIGMA * t.shape[-1] / TASKONOMY_TARGET_SIZE)
        return Decoded(t.clamp(-1.0, 1.0) if clip else t, None)

    return decode


def decode_reshading_signed(arr: np.ndarray) -> Decoded:
    """Gray (channel mean of an RGB copy) in [-1, 1]."""
    _expect(arr, np.uint8, None)
    return Decoded(signed(_chw(arr).mean(0, keepdim=True) / 255.0), None)


_CURVATURE_MEAN = (123.572, 120.1)
_CURVATURE_STD = (31.922, 21.658)


def decode_curvature_taskonomy(arr: np.ndarray) -> Decoded:
    """Channels 0 and 1 of the 8-bit code, (v - [123.572, 120.1]) / [31.922, 21.658].

    ``curvature_preprocess`` of the original loader, on the colour file as intended (the
    MTRobust copy reads it as grayscale by mistake: ``decode_curvature_as_gray``).
    """
    _expect(arr, np.uint8, 2)
    mean, std = _per_channel(_CURVATURE_MEAN), _per_channel(_CURVATURE_STD)
    return Decoded((_chw(arr[..., :2]) - mean) / std, None)


# skimage's rgb2gray luminance weights: what ``imread(..., as_gray=True)`` computes.
_GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)


def decode_curvature_as_gray(arr: np.ndarray) -> Decoded:
    """The authors' curvature target, replayed on purpose (``fidelity: authors``): their
    loader reads the file as one gray channel in [0, 1] (``color=False`` for a 2-channel
    domain, MTRobust ``task_data_loading.py``) and ``curvature_preprocess`` standardises that
    channel twice, giving two near-constant targets (≈ −3.87 and ≈ −5.54).
    """
    _expect(arr, np.uint8, 3)
    gray = (_chw(arr[..., :3]) / 255.0 * _per_channel(_GRAY_WEIGHTS)).sum(0, keepdim=True)
    mean, std = _per_channel(_CURVATURE_MEAN), _per_channel(_CURVATURE_STD)
    return Decoded((gray - mean) / std, None)


# --------------------------------------------------------------------- Cityscapes

# Cityscapes labelIds (0..33) to the 19 training ids (cityscapesScripts labels.py); the rest
# is ignored (255).
_CITYSCAPES_TRAIN_IDS = {
    7: 0,
    8: 1,
    11: 2,
    12: 3,
    13: 4,
    17: 5,
    19: 6,
    20: 7,
    21: 8,
    22: 9,
    23: 10,
    24: 11,
    25: 12,
    26: 13,
    27: 14,
    28: 15,
    31: 16,
    32: 17,
    33: 18,
}
CITYSCAPES_ID_TO_TRAIN = np.full(256, CITYSCAPES_IGNORE, dtype=np.int64)
for _id, _train in _CITYSCAPES_TRAIN_IDS.items():
    CITYSCAPES_ID_TO_TRAIN[_id] = _train

CITYSCAPES_DISPARITY_SCALE = 1000.0


def decode_cityscapes_labels(arr: np.ndarray) -> Decoded:
    """labelIds to the 19 training ids, everything else 255 (ignored)."""
    _expect(arr, np.uint8, 1)
    if arr.ndim == 3:
        arr = arr[..., 0]
    return Decoded(torch.from_numpy(CITYSCAPES_ID_TO_TRAIN[arr]).unsqueeze(0), None)


def decode_disparity(arr: np.ndarray) -> Decoded:
    """The paper's Cityscapes "depth": the raw 16-bit disparity code v / 1000.

    MTRobust ``learning/dataloader.py`` divides the PNG value by 1000 (v = 256·d + 1 for a
    disparity of d pixels, so 1 unit ≈ 3.9 px of disparity; near is large, far is small).
    v = 0 means no measurement: it is masked here, whereas the authors did not mask it
    and trained towards 0 there.
    """
    raw = _gray16(arr)
    return Decoded(raw / CITYSCAPES_DISPARITY_SCALE, raw > 0)
