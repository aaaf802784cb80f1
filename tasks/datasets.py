"""The datasets: each one's reader, synthetic writer, default size and task table, by name.

This is the one place that maps a dataset name to code; the task registry, the trial's
data step, the ``synth`` command and the sweeps ask it instead of testing names. Each
dataset module registers itself (:func:`tasks.dataset_kind.register_dataset`) and is
imported below by name, so adding a dataset is adding its module and its import line.
"""

from __future__ import annotations

from tasks import (  # one line per dataset module; importing it registers the dataset
    cityscapes_data,  # noqa: F401
    taskonomy_data,  # noqa: F401
)
from tasks.dataset_kind import DATASETS, DatasetKind
from tasks.task import Task


def dataset_names() -> tuple[str, ...]:
    """Names of the known datasets, by ``order`` then name (Taskonomy, Cityscapes first)."""
    return DATASETS.names()


def get_dataset(name: str) -> DatasetKind:
    """A dataset by name, or UnknownTaskError naming the known ones."""
    return DATASETS.get(name)


def dataset_tasks(name: str) -> tuple[Task, ...]:
    """The task table a dataset registered (before conventions; ask ``tasks.registry``)."""
    return get_dataset(name).tasks
