"""The task registry: every dense-prediction task of the paper, described once.

A task says how many channels a model predicts for it, how its label file is decoded,
which loss trains it, which metrics score it and in which direction they improve. Adding
a task is one new entry in ``_TASKS`` below; no other module names tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

DATASETS = ("taskonomy", "cityscapes")

# Taskonomy's depth files are in 1/512 m; 2**13 (16 m) and above is treated as invalid,
# as in Standley et al.'s loader.
TASKONOMY_DEPTH_VALID_BELOW = 2**13
CITYSCAPES_IGNORE = 255
TASKONOMY_SEG_IGNORE = 0


class LabelError(ValueError):
    """A label file that cannot be decoded as its task promises (wrong bit depth or shape)."""


@dataclass(frozen=True)
class Decoded:
    """A decoded label: the training target and its valid-pixel mask (or None: all valid)."""

    target: torch.Tensor
    mask: torch.Tensor | None


# --------------------------------------------------------------------------- losses
# Every loss returns one value per sample (shape (B,)): the mean over that sample's valid
# pixels. Training averages over the batch; attacks sum over it.


def _masked_mean(per_pixel: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of a (B,C,H,W) map over valid pixels and channels, per sample."""
    if mask is None:
        return per_pixel.flatten(1).mean(1)
    m = mask.to(per_pixel.dtype).expand_as(per_pixel)
    return (per_pixel * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0)


def l1_loss(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return _masked_mean((pred - target).abs(), mask)


def make_ce_loss(ignore_index: int) -> Callable[..., torch.Tensor]:
    def ce_loss(
        pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        labels = target.long().squeeze(1)
        per_pixel = F.cross_entropy(
            pred.float(), labels, ignore_index=ignore_index, reduction="none"
        )
        valid = (labels != ignore_index).unsqueeze(1)
        if mask is not None:
            valid = valid & mask
        return _masked_mean(per_pixel.unsqueeze(1), valid)

    return ce_loss


# --------------------------------------------------------------------------- metrics


class Meter:
    """Accumulates a task's metrics over batches; ``compute`` gives the dataset value."""

    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        raise NotImplementedError


class SegmentationMeter(Meter):
    """Confusion matrix over labelled pixels; mIoU and pixel accuracy in percent.

    mIoU averages over the classes that occur in the labels or the predictions, the
    usual convention when a split does not contain every class.
    """

    def __init__(self, num_classes: int, ignore_index: int):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.hist = torch.zeros(num_classes, num_classes, dtype=torch.float64)

    def update(self, pred, target, mask):
        labels = target.long().squeeze(1)
        guess = pred.argmax(1)
        valid = labels != self.ignore_index
        if mask is not None:
            valid &= mask.squeeze(1)
        idx = labels[valid] * self.num_classes + guess[valid]
        counts = torch.bincount(idx.cpu(), minlength=self.num_classes**2)
        self.hist += counts.reshape(self.num_classes, self.num_classes).double()

    def compute(self):
        hist = self.hist
        tp = hist.diag()
        union = hist.sum(0) + hist.sum(1) - tp
        present = union > 0
        if self.ignore_index < self.num_classes:
            present[self.ignore_index] = False
        miou = (tp[present] / union[present]).mean().item() * 100 if present.any() else float("nan")
        total = hist.sum().item()
        acc = tp.sum().item() / total * 100 if total else float("nan")
        return {"miou": miou, "pixel_acc": acc}


class RegressionMeter(Meter):
    """Mean absolute error, RMSE and (optionally) mean relative error over valid pixels."""

    def __init__(self, names: dict[str, str]):
        self.names = names  # our statistic -> reported metric name
        self.abs = 0.0
        self.sq = 0.0
        self.rel = 0.0
        self.count = 0.0

    def update(self, pred, target, mask):
        diff = (pred.float() - target.float()).detach()
        m = (
            torch.ones_like(diff, dtype=torch.bool) if mask is None else mask.expand_as(diff)
        ).detach()
        d = diff[m]
        self.abs += d.abs().sum().item()
        self.sq += d.pow(2).sum().item()
        if "rel" in self.names:
            t = target.float().expand_as(diff)[m]
            self.rel += (d.abs() / t.abs().clamp_min(1e-6)).sum().item()
        self.count += float(d.numel())

    def compute(self):
        n = max(self.count, 1.0)
        stats = {"abs": self.abs / n, "rmse": (self.sq / n) ** 0.5, "rel": self.rel / n}
        if self.count == 0:
            stats = {k: float("nan") for k in stats}
        return {name: stats[stat] for stat, name in self.names.items()}


# --------------------------------------------------------------------------- decoders
# Each takes the raw array of the PNG (uint8 or uint16, HxW or HxWxC) and returns a
# Decoded target at the file's own resolution; readers resize afterwards.


def _expect(arr: np.ndarray, dtype: type, channels: int | None) -> None:
    if arr.dtype != dtype:
        raise LabelError(f"expected a {np.dtype(dtype).itemsize * 8}-bit PNG, found {arr.dtype}")
    got = 1 if arr.ndim == 2 else arr.shape[2]
    if channels is not None and got < channels:
        raise LabelError(f"expected {channels} channel(s), found {got}")


def _chw(arr: np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(arr).astype(np.float32))
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)


def decode_rgb(arr: np.ndarray) -> Decoded:
    _expect(arr, np.uint8, 3)
    return Decoded(_chw(arr[..., :3]) / 255.0, None)


def make_affine16(offset: float, scale: float) -> Callable[[np.ndarray], Decoded]:
    """A 16-bit gray label mapped to (v - offset) / scale, all pixels valid."""

    def decode(arr: np.ndarray) -> Decoded:
        _expect(arr, np.uint16, 1)
        return Decoded((_chw(arr) - offset) / scale, None)

    return decode


def decode_taskonomy_depth(arr: np.ndarray) -> Decoded:
    _expect(arr, np.uint16, 1)
    raw = _chw(arr)
    return Decoded((raw - 1500.0) / 1000.0, raw < TASKONOMY_DEPTH_VALID_BELOW)


def decode_normal(arr: np.ndarray) -> Decoded:
    _expect(arr, np.uint8, 3)
    return Decoded((_chw(arr[..., :3]) / 255.0 - 0.5) * 2.0, None)


def decode_reshading(arr: np.ndarray) -> Decoded:
    _expect(arr, np.uint8, None)
    t = _chw(arr) / 255.0
    return Decoded((t.mean(0, keepdim=True) - 0.4962) / 0.2846, None)


def decode_curvature(arr: np.ndarray) -> Decoded:
    _expect(arr, np.uint8, 2)
    t = _chw(arr[..., :2]) / 255.0
    mean = torch.tensor([0.5175, 0.4987]).view(2, 1, 1)
    std = torch.tensor([0.1373, 0.0359]).view(2, 1, 1)
    return Decoded((t - mean) / std, None)


def decode_class_ids(arr: np.ndarray) -> Decoded:
    _expect(arr, np.uint8, 1)
    if arr.ndim == 3:
        arr = arr[..., 0]
    return Decoded(torch.from_numpy(arr.astype(np.int64)).unsqueeze(0), None)


# Cityscapes labelIds (0..33) to the 19 training ids; everything else is ignored (255).
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


def decode_cityscapes_labels(arr: np.ndarray) -> Decoded:
    _expect(arr, np.uint8, 1)
    if arr.ndim == 3:
        arr = arr[..., 0]
    return Decoded(torch.from_numpy(CITYSCAPES_ID_TO_TRAIN[arr]).unsqueeze(0), None)


def disparity_to_depth(arr: np.ndarray, baseline: float, fx: float) -> Decoded:
    """Cityscapes 16-bit disparity to metric depth: d = (v-1)/256, depth = baseline·fx/d."""
    _expect(arr, np.uint16, 1)
    raw = arr.astype(np.float32)
    disp = (raw - 1.0) / 256.0
    valid = (raw > 0) & (disp > 0)
    depth = np.zeros_like(disp)
    depth[valid] = baseline * fx / disp[valid]
    return Decoded(torch.from_numpy(depth).unsqueeze(0), torch.from_numpy(valid).unsqueeze(0))


# --------------------------------------------------------------------------- the registry


@dataclass(frozen=True)
class Task:
    """One dense-prediction task of one dataset."""

    name: str
    letter: str
    dataset: str
    channels: int
    kind: str  # "segmentation" or "regression"
    loss: Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]
    make_meter: Callable[[], Meter]
    primary_metric: str
    higher_is_better: dict[str, bool]
    decode: Callable[[np.ndarray], Decoded] | None
    domain: str = ""  # on-disk folder; "" = the task's name
    file_domain: str = ""  # the "_domain_X" suffix in file names; "" = domain
    uses_depth_mask: bool = False  # invalid depth pixels are also invalid here
    ignore_index: int | None = None
    description: str = field(default="", compare=False)

    @property
    def folder(self) -> str:
        return self.domain or self.name

    @property
    def file_suffix(self) -> str:
        return self.file_domain or self.folder

    @property
    def label_is_class(self) -> bool:
        """Class labels and masks resize with nearest neighbour, everything else bilinearly."""
        return self.kind == "segmentation"


def _seg_meter(num_classes: int, ignore: int) -> Callable[[], Meter]:
    return lambda: SegmentationMeter(num_classes, ignore)


def _reg_meter(**names: str) -> Callable[[], Meter]:
    return lambda: RegressionMeter(dict(names))


_SEG_DIRECTION = {"miou": True, "pixel_acc": True}
_REG_DIRECTION = {"l1": False, "rmse": False}


def _taskonomy_regression(name, letter, channels, decode, masked, description, **kw) -> Task:
    return Task(
        name=name,
        letter=letter,
        dataset="taskonomy",
        channels=channels,
        kind="regression",
        loss=l1_loss,
        make_meter=_reg_meter(abs="l1", rmse="rmse"),
        primary_metric="l1",
        higher_is_better=_REG_DIRECTION,
        decode=decode,
        uses_depth_mask=masked,
        description=description,
        **kw,
    )


_TASKS: tuple[Task, ...] = (
    Task(
        name="segment_semantic",
        letter="s",
        dataset="taskonomy",
        channels=18,
        kind="segmentation",
        loss=make_ce_loss(TASKONOMY_SEG_IGNORE),
        make_meter=_seg_meter(18, TASKONOMY_SEG_IGNORE),
        primary_metric="miou",
        higher_is_better=_SEG_DIRECTION,
        decode=decode_class_ids,
        file_domain="segmentsemantic",
        ignore_index=TASKONOMY_SEG_IGNORE,
        description="semantic classes (0 = uncertain, ignored; 1 = background; 2..17 objects)",
    ),
    _taskonomy_regression(
        "depth_zbuffer",
        "d",
        1,
        decode_taskonomy_depth,
        True,
        "z-buffer depth, (v-1500)/1000 of 1/512 m units",
    ),
    _taskonomy_regression(
        "depth_euclidean",
        "D",
        1,
        decode_taskonomy_depth,
        True,
        "ray-length depth, same units as depth_zbuffer",
    ),
    _taskonomy_regression("normal", "n", 3, decode_normal, True, "surface normals in [-1, 1]"),
    _taskonomy_regression(
        "edge_texture", "e", 1, make_affine16(718.0, 1070.0), False, "image-gradient edges (16-bit)"
    ),
    _taskonomy_regression(
        "edge_occlusion",
        "E",
        1,
        make_affine16(56.0248, 239.1265),
        True,
        "depth-discontinuity edges (16-bit)",
    ),
    _taskonomy_regression(
        "keypoints2d",
        "k",
        1,
        make_affine16(50.0, 100.0),
        False,
        "2D interest-point heat map (16-bit)",
    ),
    _taskonomy_regression(
        "keypoints3d",
        "K",
        1,
        make_affine16(5473.0, 10000.0),
        True,
        "3D interest-point heat map (16-bit)",
    ),
    _taskonomy_regression(
        "principal_curvature",
        "p",
        2,
        decode_curvature,
        True,
        "principal curvatures k1, k2 (8-bit, channels 0 and 1)",
    ),
    _taskonomy_regression(
        "reshading", "r", 1, decode_reshading, True, "shading under a fixed light (8-bit)"
    ),
    _taskonomy_regression(
        "autoencoder", "A", 3, decode_rgb, False, "reconstruction of the input image", domain="rgb"
    ),
    Task(
        name="segment_semantic",
        letter="s",
        dataset="cityscapes",
        channels=19,
        kind="segmentation",
        loss=make_ce_loss(CITYSCAPES_IGNORE),
        make_meter=_seg_meter(19, CITYSCAPES_IGNORE),
        primary_metric="miou",
        higher_is_better=_SEG_DIRECTION,
        decode=decode_cityscapes_labels,
        domain="gtFine",
        file_domain="gtFine_labelIds",
        ignore_index=CITYSCAPES_IGNORE,
        description="19 Cityscapes training classes (labelIds mapped, the rest 255 = ignored)",
    ),
    Task(
        name="depth",
        letter="d",
        dataset="cityscapes",
        channels=1,
        kind="regression",
        loss=l1_loss,
        make_meter=_reg_meter(abs="abs_err", rel="rel_err", rmse="rmse"),
        primary_metric="abs_err",
        higher_is_better={"abs_err": False, "rel_err": False, "rmse": False},
        decode=None,  # needs the camera file: see disparity_to_depth
        domain="disparity",
        file_domain="disparity",
        description="metric depth (m) from disparity and the camera's baseline and fx",
    ),
    Task(
        name="autoencoder",
        letter="A",
        dataset="cityscapes",
        channels=3,
        kind="regression",
        loss=l1_loss,
        make_meter=_reg_meter(abs="l1", rmse="rmse"),
        primary_metric="l1",
        higher_is_better=_REG_DIRECTION,
        decode=decode_rgb,
        domain="leftImg8bit",
        file_domain="leftImg8bit",
        description="reconstruction of the input image",
    ),
)


class UnknownTaskError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; this one reads as a sentence
        return str(self.args[0])


def tasks_of(dataset: str) -> list[Task]:
    """All tasks of a dataset, in the registry's canonical order."""
    if dataset not in DATASETS:
        raise UnknownTaskError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    return [t for t in _TASKS if t.dataset == dataset]


def get_task(dataset: str, name: str) -> Task:
    """A task by its name or its paper letter (letters are case-sensitive: d ≠ D)."""
    for task in tasks_of(dataset):
        if name in (task.name, task.letter):
            return task
    known = ", ".join(f"{t.name} ({t.letter})" for t in tasks_of(dataset))
    raise UnknownTaskError(f"unknown {dataset} task {name!r}; known tasks: {known}")


def parse_tasks(dataset: str, spec: str | list[str]) -> list[Task]:
    """Tasks from a list, a comma-separated string, or a string of letters ('sdn')."""
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        if len(parts) == 1 and parts[0] not in {t.name for t in tasks_of(dataset)}:
            parts = list(parts[0])
    else:
        parts = list(spec)
    tasks = [get_task(dataset, p) for p in parts]
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise UnknownTaskError(f"task listed twice in {spec!r}")
    return tasks


def letters(tasks: list[Task]) -> str:
    return "".join(t.letter for t in tasks)
