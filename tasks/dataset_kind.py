"""What a dataset is to the project, and the registry its module adds it to.

A dataset is one module ``tasks/<name>_data.py`` that defines its reader, task table and
synthetic writer and ends with ``register_dataset(DatasetKind(...), tasks=...)``;
``tasks/datasets.py`` imports each such module by name and answers the lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from mtsweep.registry import Registry
from tasks.errors import UnknownTaskError
from tasks.task import Task

if TYPE_CHECKING:
    from tasks.reading import SampleReader
    from tasks.synth import SynthReport

SyntheticWriter = Callable[..., "SynthReport"]  # (out_dir, *, n, size, seed) -> SynthReport


@dataclass(frozen=True)
class DatasetKind:
    """A dataset the project can read and synthesise.

    ``reader(root, tasks, split=..., size=..., cache=...)`` gives the samples of one split;
    ``write_synthetic(out_dir, n=..., size=..., seed=...)`` writes a synthetic copy in the
    real on-disk format; ``image_size`` is the paper's training size (an int: the side of
    Taskonomy's squares, the height of Cityscapes' 2:1 frames). ``split_sizes`` are the
    samples per split at paper scale, each with where the count comes from (what a cost
    estimate uses when no data root is given). ``order`` places it in
    ``dataset_names()`` (then the name): where task names fit several datasets, the first
    wins (Taskonomy, the paper's main dataset). ``tasks`` is its task table under the
    ``standley`` convention, set by ``register_dataset``. ``rgb_std`` is the per-channel
    standard deviation of its images in [0, 1] RGB that the authors' loader standardised
    with (None where no preset needs it).
    """

    name: str
    reader: type[SampleReader]
    write_synthetic: SyntheticWriter
    image_size: int
    order: int = 100
    split_sizes: Mapping[str, tuple[int, str]] = field(default_factory=dict)
    tasks: tuple[Task, ...] = ()
    rgb_std: tuple[float, float, float] | None = None


def _origin(kind: DatasetKind) -> str:
    return f"{kind.reader.__module__}.{kind.reader.__qualname__}"


DATASETS: Registry[DatasetKind] = Registry(
    "dataset", UnknownTaskError, origin=_origin, sort_key=lambda k: (k.order, k.name)
)


def register_dataset(kind: DatasetKind, tasks: Sequence[Task]) -> DatasetKind:
    """Make ``kind`` known under its name, with its task table (the ``standley`` convention;
    :mod:`tasks.conventions` overrides fields by ``(dataset, task name)``). Every task must
    name this dataset, and names and letters must be unique. Returns the registered kind."""
    tasks = tuple(tasks)
    if not tasks:
        raise UnknownTaskError(f"dataset {kind.name!r} registers no tasks")
    for task in tasks:
        if task.dataset != kind.name:
            raise UnknownTaskError(
                f"dataset {kind.name!r}: task {task.name!r} says dataset={task.dataset!r}"
            )
    for what in ("name", "letter"):
        values = [getattr(t, what) for t in tasks]
        twice = sorted({v for v in values if values.count(v) > 1})
        if twice:
            raise UnknownTaskError(f"dataset {kind.name!r}: task {what} {twice[0]!r} twice")
    return DATASETS.register(kind.name, replace(kind, tasks=tasks))
