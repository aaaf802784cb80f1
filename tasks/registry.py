"""The task registry: every dense-prediction task of the paper, described once.

A task says how many channels a model predicts for it, how its label file is decoded,
which loss trains it, which metrics score it and in which direction they improve. The
table below holds the ``standley`` target convention; other conventions override some
fields (:mod:`tasks.conventions`). Each dataset's module registers its table with its
reader (:func:`tasks.datasets.register_dataset`); the tables of the paper's two datasets are
here (``TASKONOMY_TASKS``, ``CITYSCAPES_TASKS``), so adding one of their tasks is one entry.
``DATASETS`` is the registered datasets' names, read on each use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cache
from typing import TYPE_CHECKING

import torch

from tasks.conventions import CONVENTIONS, DEFAULT_CONVENTION, get_convention
from tasks.datasets import dataset_names, dataset_tasks
from tasks.errors import UnknownTaskError
from tasks.formats import cityscapes as cs
from tasks.formats import taskonomy as tx
from tasks.labels import (
    CITYSCAPES_IGNORE,
    TASKONOMY_SEG_IGNORE,
    Decoder,
    affine16,
    decode_cityscapes_labels,
    decode_class_ids,
    decode_curvature_standley,
    decode_depth_standley,
    decode_disparity,
    decode_normal,
    decode_reshading_standley,
)
from tasks.losses import Loss, l1_loss, make_ce_loss
from tasks.metrics import Meter, RegressionMeter, SegmentationMeter

__all__ = [
    "CONVENTIONS",
    "DATASETS",
    "Task",
    "UnknownTaskError",
    "get_task",
    "infer_dataset",
    "parse_tasks",
    "tasks_of",
]


@dataclass(frozen=True)
class Task:
    """One dense-prediction task of one dataset under one target convention."""

    name: str
    letter: str
    dataset: str
    channels: int
    kind: str  # "segmentation" or "regression"
    loss: Loss
    make_meter: Callable[[], Meter]
    primary_metric: str
    higher_is_better: dict[str, bool]
    decode: Decoder | None  # None for tasks whose target is the input image
    domain: str = ""  # on-disk folder; "" = the task's name
    file_domain: str = ""  # the "_domain_X" suffix in file names; "" = domain
    uses_depth_mask: bool = False  # invalid depth pixels are also invalid here
    ignore_index: int | None = None
    # the target computed from the input image in [0, 1] (the autoencoder), else None
    target_from_input: Callable[[torch.Tensor], torch.Tensor] | None = None
    # target channels whose sign flips when the image is mirrored left-right (normals' x)
    mirror_negates: tuple[int, ...] = ()
    convention: str = DEFAULT_CONVENTION
    units: str = field(default="", compare=False)  # of the target, so of l1/abs_err/rmse
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

    @property
    def target_is_input(self) -> bool:
        """Whether the target is made from the input image rather than read from a file."""
        return self.target_from_input is not None


def _seg_meter(num_classes: int, ignore: int) -> Callable[[], Meter]:
    return lambda: SegmentationMeter(num_classes, ignore)


def _reg_meter(**names: str) -> Callable[[], Meter]:
    return lambda: RegressionMeter(dict(names))


def _identity(image: torch.Tensor) -> torch.Tensor:
    return image


_SEG_DIRECTION = {"miou": True, "pixel_acc": True}
_REG_DIRECTION = {"l1": False, "rmse": False}


def _taskonomy_regression(
    name: str,
    letter: str,
    channels: int,
    decode: Decoder | None,
    masked: bool,
    units: str,
    description: str,
    **kw,
) -> Task:
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
        units=units,
        description=description,
        **kw,
    )


_STANDLEY_DEPTH = "(v-1500)/1000 of the 1/512 m code: 1 unit = 1000/512 m ≈ 1.95 m"

TASKONOMY_TASKS: tuple[Task, ...] = (
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
        file_domain=tx.SEGMENT_FILE_DOMAIN,
        ignore_index=TASKONOMY_SEG_IGNORE,
        units="class ids",
        description="semantic classes (0 = uncertain, ignored; 1 = background; 2..17 objects)",
    ),
    _taskonomy_regression(
        "depth_zbuffer", "d", 1, decode_depth_standley, True, _STANDLEY_DEPTH, "z-buffer depth"
    ),
    _taskonomy_regression(
        "depth_euclidean",
        "D",
        1,
        decode_depth_standley,
        True,
        _STANDLEY_DEPTH,
        "ray-length depth",
    ),
    _taskonomy_regression(
        "normal",
        "n",
        3,
        decode_normal,
        True,
        "unit-vector components in [-1, 1]",
        "surface normals; channel 0 is the horizontal (x) component",
        mirror_negates=(0,),
    ),
    _taskonomy_regression(
        "edge_texture",
        "e",
        1,
        affine16(718.0, 1070.0),
        False,
        "(v-718)/1070 of the 16-bit code",
        "image-gradient edges",
    ),
    _taskonomy_regression(
        "edge_occlusion",
        "E",
        1,
        affine16(56.0248, 239.1265),
        True,
        "(v-56.0248)/239.1265 of the 16-bit code",
        "depth-discontinuity edges",
    ),
    _taskonomy_regression(
        "keypoints2d",
        "k",
        1,
        affine16(50.0, 100.0),
        False,
        "(v-50)/100 of the 16-bit code",
        "2D interest-point heat map",
    ),
    _taskonomy_regression(
        "keypoints3d",
        "K",
        1,
        # Standley has no keypoints3d; offset and scale from the mean (5473) and range of
        # the omnidata sample (docs/formats.md §6).
        affine16(5473.0, 10000.0),
        True,
        "(v-5473)/10000 of the 16-bit code",
        "3D interest-point heat map",
    ),
    _taskonomy_regression(
        "principal_curvature",
        "p",
        2,
        decode_curvature_standley,
        True,
        "standardised k1, k2 codes (Standley's mean and std)",
        "principal curvatures k1, k2 (8-bit, channels 0 and 1)",
    ),
    _taskonomy_regression(
        "reshading",
        "r",
        1,
        decode_reshading_standley,
        True,
        "(gray-0.4962)/0.2846, gray in [0, 1]",
        "shading under a fixed light",
    ),
    _taskonomy_regression(
        "autoencoder",
        "A",
        3,
        None,
        False,
        "RGB in [0, 1]",
        "reconstruction of the input image",
        domain=tx.RGB,
        target_from_input=_identity,
    ),
)

CITYSCAPES_TASKS: tuple[Task, ...] = (
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
        domain=cs.LABELS,
        file_domain=cs.LABEL_SUFFIX,
        ignore_index=CITYSCAPES_IGNORE,
        units="training ids",
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
        decode=decode_disparity,
        domain=cs.DISPARITY,
        file_domain=cs.DISPARITY,
        units="raw disparity code / 1000 (1 unit ≈ 3.9 px of disparity), as MTRobust",
        description="the paper's Cityscapes depth: scaled disparity, 0 (unmeasured) masked",
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
        decode=None,
        domain=cs.IMAGES,
        file_domain=cs.IMAGES,
        target_from_input=_identity,
        units="RGB in [0, 1]",
        description="reconstruction of the input image",
    ),
)


def __getattr__(name: str):
    """``DATASETS``: the registered datasets' names (``tasks.datasets.dataset_names()``)."""
    if name == "DATASETS":
        return dataset_names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if TYPE_CHECKING:  # provided by __getattr__ above
    DATASETS: tuple[str, ...]


@cache
def _table(dataset: str, convention: str) -> tuple[Task, ...]:
    """The dataset's registered tasks under ``convention``; UnknownTaskError if unknown."""
    overrides = get_convention(convention).overrides
    return tuple(
        replace(t, convention=convention, **overrides.get((dataset, t.name), {}))
        for t in dataset_tasks(dataset)
    )


def forget_tables() -> None:
    """Drop the tables built so far (``register_dataset`` calls it)."""
    _table.cache_clear()


def tasks_of(dataset: str, convention: str = DEFAULT_CONVENTION) -> list[Task]:
    """All tasks of a dataset, in the registry's canonical order."""
    return list(_table(dataset, convention))


def get_task(dataset: str, name: str, convention: str = DEFAULT_CONVENTION) -> Task:
    """A task by its name or its paper letter (letters are case-sensitive: d ≠ D)."""
    tasks = tasks_of(dataset, convention)
    for task in tasks:
        if name in (task.name, task.letter):
            return task
    known = ", ".join(f"{t.name} ({t.letter})" for t in tasks)
    raise UnknownTaskError(f"unknown {dataset} task {name!r}; known tasks: {known}")


def parse_tasks(
    dataset: str, spec: str | list[str], convention: str = DEFAULT_CONVENTION
) -> list[Task]:
    """Tasks from a list, a comma-separated string, or a string of letters ('sdn')."""
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",") if p.strip()]
        if len(parts) == 1 and parts[0] not in {t.name for t in tasks_of(dataset)}:
            parts = list(parts[0])
    else:
        parts = list(spec)
    tasks = [get_task(dataset, p, convention) for p in parts]
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise UnknownTaskError(f"task listed twice in {spec!r}")
    return tasks


def infer_dataset(task_names: Iterable[str]) -> str:
    """The dataset whose task names these all are (full names, not letters).

    Names such as segment_semantic and autoencoder exist in several datasets; a set made
    only of those is taken as the first of ``DATASETS``: Taskonomy, the paper's main one.
    """
    names, datasets = set(task_names), dataset_names()
    fits = [d for d in datasets if names <= {t.name for t in _table(d, DEFAULT_CONVENTION)}]
    if not fits:
        known = "; ".join(f"{d}: {', '.join(t.name for t in tasks_of(d))}" for d in datasets)
        raise UnknownTaskError(
            f"task names {', '.join(sorted(names))} are not all of one dataset; known: {known}"
        )
    return fits[0]
