"""The datasets: for each, its reader, its synthetic writer and its default training size.

This table is the one place that maps a dataset name to code; the trial's data step, the
``synth`` command and the sweeps ask it instead of testing names. A dataset's tasks are in
:mod:`tasks.registry` (``DATASETS`` there lists the same names).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tasks.cityscapes_data import CityscapesDataset
from tasks.errors import UnknownTaskError
from tasks.reading import SampleReader
from tasks.synth import SynthReport, write_cityscapes, write_taskonomy
from tasks.taskonomy_data import TaskonomyDataset

SyntheticWriter = Callable[..., SynthReport]  # (out_dir, *, n, size, seed) -> SynthReport


@dataclass(frozen=True)
class DatasetKind:
    """A dataset the project can read and synthesise.

    ``reader(root, tasks, split=..., size=..., cache=...)`` gives the samples of one split;
    ``write_synthetic(out_dir, n=..., size=..., seed=...)`` writes a synthetic copy in the
    real on-disk format; ``image_size`` is the paper's training size (an int: the side of
    Taskonomy's squares, the height of Cityscapes' 2:1 frames).
    """

    name: str
    reader: type[SampleReader]
    write_synthetic: SyntheticWriter
    image_size: int


_DATASETS: dict[str, DatasetKind] = {
    kind.name: kind
    for kind in (
        DatasetKind("taskonomy", TaskonomyDataset, write_taskonomy, image_size=256),
        DatasetKind("cityscapes", CityscapesDataset, write_cityscapes, image_size=340),
    )
}


def dataset_names() -> tuple[str, ...]:
    """Names of the known datasets, in the table's order."""
    return tuple(_DATASETS)


def get_dataset(name: str) -> DatasetKind:
    """A dataset by name, or UnknownTaskError naming the known ones."""
    try:
        return _DATASETS[name]
    except KeyError:
        raise UnknownTaskError(
            f"unknown dataset {name!r}; choose one of {', '.join(_DATASETS)}"
        ) from None
