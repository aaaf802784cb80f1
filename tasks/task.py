"""What a task is: one dense-prediction target of one dataset, under one target convention.

A task says how many channels a model predicts for it, how its label file is decoded,
which loss trains it, which metrics score it and in which direction they improve. Each
dataset module (``tasks/<name>_data.py``) holds its table of tasks under the ``standley``
convention; :func:`under_convention` gives a task as another convention defines it
(:mod:`tasks.conventions`). The helpers below are the parts those tables share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import lazy_loader

from tasks.conventions import DEFAULT_CONVENTION, get_convention
from tasks.labels import Decoder
from tasks.losses import Loss
from tasks.metrics import Meter, RegressionMeter, SegmentationMeter

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")


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


def under_convention(task: Task, convention: str) -> Task:
    """``task`` as target convention ``convention`` defines it; UnknownTaskError if unknown."""
    overrides = get_convention(convention).overrides.get((task.dataset, task.name), {})
    return replace(task, convention=convention, **overrides)


def seg_meter(num_classes: int, ignore: int) -> Callable[[], Meter]:
    """A segmentation task's meter factory."""
    return lambda: SegmentationMeter(num_classes, ignore)


def reg_meter(**names: str) -> Callable[[], Meter]:
    """A regression task's meter factory; ``names`` maps the meter's sums to metric names."""
    return lambda: RegressionMeter(dict(names))


def identity(image: torch.Tensor) -> torch.Tensor:
    """The autoencoder's target: the input image itself."""
    return image


SEG_DIRECTION = {"miou": True, "pixel_acc": True}
REG_DIRECTION = {"l1": False, "rmse": False}
