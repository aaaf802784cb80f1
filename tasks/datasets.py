"""The datasets: for each, its reader, its synthetic writer, its default size and its tasks.

This registry is the one place that maps a dataset name to code; the task registry, the
trial's data step, the ``synth`` command and the sweeps ask it instead of testing names.
A dataset is one module ``tasks/<name>_data.py`` that defines its reader and writer and
ends with ``register_dataset(DatasetKind(...), tasks=...)``. The registry imports every
``tasks/*_data.py`` module at its first lookup, so adding a dataset is adding its module
(the module imports :mod:`tasks.registry`, so the registry cannot import it up front).
A dataset called ``X`` lives in ``tasks/X_data.py``; looking ``X`` up imports that module
first.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tasks.errors import UnknownTaskError

if TYPE_CHECKING:
    from tasks.reading import SampleReader
    from tasks.registry import Task
    from tasks.synth import SynthReport

SyntheticWriter = Callable[..., "SynthReport"]  # (out_dir, *, n, size, seed) -> SynthReport
MODULE_SUFFIX = "_data"  # tasks/<name>_data.py defines and registers a dataset


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
    wins (Taskonomy, the paper's main dataset).
    """

    name: str
    reader: type[SampleReader]
    write_synthetic: SyntheticWriter
    image_size: int
    order: int = 100
    split_sizes: Mapping[str, tuple[int, str]] = field(default_factory=dict)


_DATASETS: dict[str, DatasetKind] = {}
_TASKS: dict[str, tuple[Task, ...]] = {}
_discovered: list[bool] = []  # non-empty once discovery has started


def register_dataset(kind: DatasetKind, tasks: Sequence[Task]) -> DatasetKind:
    """Make ``kind`` known under its name, with its task table (the ``standley`` convention;
    :mod:`tasks.conventions` overrides fields by ``(dataset, task name)``). Every task must
    name this dataset, and names and letters must be unique. Returns ``kind``."""
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
    known = _DATASETS.get(kind.name)
    if known is not None and _origin(known) != _origin(kind):
        raise UnknownTaskError(
            f"dataset name {kind.name!r} of {_origin(kind)} is taken by {_origin(known)}"
        )
    _DATASETS[kind.name] = kind  # a re-imported module replaces its own entry
    _TASKS[kind.name] = tasks
    from tasks.registry import forget_tables  # imported here: tasks.registry imports this

    forget_tables()
    return kind


def _origin(kind: DatasetKind) -> str:
    return f"{kind.reader.__module__}.{kind.reader.__qualname__}"


def _modules() -> list[str]:
    """The ``tasks/*_data.py`` modules, by name."""
    import tasks

    return [m.name for m in pkgutil.iter_modules(tasks.__path__) if m.name.endswith(MODULE_SUFFIX)]


def _discover(name: str | None = None) -> None:
    """Import the module of dataset ``name`` (``tasks/<name>_data.py``) if it has not
    registered yet, then every ``tasks/*_data.py`` module once; each registers its dataset.

    The named module comes first so that a lookup made while another dataset module is being
    imported (``tasks.synth`` reads Taskonomy's table when it is imported) still finds it.
    """
    if name is not None and name not in _DATASETS and f"{name}{MODULE_SUFFIX}" in _modules():
        importlib.import_module(f"tasks.{name}{MODULE_SUFFIX}")
    if _discovered:
        return
    _discovered.append(True)
    try:
        for module in _modules():
            importlib.import_module(f"tasks.{module}")
    except BaseException:
        _discovered.clear()  # the next lookup tries again and raises the same error
        raise


def dataset_names() -> tuple[str, ...]:
    """Names of the known datasets, by ``order`` then name (Taskonomy, Cityscapes first)."""
    _discover()
    return tuple(sorted(_DATASETS, key=lambda n: (_DATASETS[n].order, n)))


def get_dataset(name: str) -> DatasetKind:
    """A dataset by name, or UnknownTaskError naming the known ones."""
    _discover(name)
    try:
        return _DATASETS[name]
    except KeyError:
        raise UnknownTaskError(
            f"unknown dataset {name!r}; choose one of {', '.join(dataset_names())}"
        ) from None


def dataset_tasks(name: str) -> tuple[Task, ...]:
    """The task table a dataset registered (before conventions; ask ``tasks.registry``)."""
    get_dataset(name)
    return _TASKS[name]
