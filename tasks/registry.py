"""The task registry: every dense-prediction task of every dataset, looked up by name.

Each dataset's module holds its task table under the ``standley`` target convention and
registers it with its reader (:mod:`tasks.datasets`); other conventions override some
fields (:mod:`tasks.conventions`). Here a task is found by dataset, name or paper letter,
and convention; :func:`tasks.datasets.dataset_names` lists the datasets.
"""

from __future__ import annotations

from collections.abc import Iterable

from tasks.conventions import CONVENTIONS, DEFAULT_CONVENTION
from tasks.datasets import dataset_names, dataset_tasks
from tasks.errors import UnknownTaskError
from tasks.task import Task, under_convention

__all__ = [
    "CONVENTIONS",
    "Task",
    "UnknownTaskError",
    "get_task",
    "infer_dataset",
    "parse_tasks",
    "tasks_of",
]

# (dataset, convention) -> (the registered table it was made from, the table under it)
_TABLES: dict[tuple[str, str], tuple[tuple[Task, ...], tuple[Task, ...]]] = {}


def _table(dataset: str, convention: str) -> tuple[Task, ...]:
    """The dataset's registered tasks under ``convention``; UnknownTaskError if unknown."""
    source = dataset_tasks(dataset)
    made = _TABLES.get((dataset, convention))
    if made is None or made[0] is not source:
        made = (source, tuple(under_convention(t, convention) for t in source))
        _TABLES[(dataset, convention)] = made
    return made[1]


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
    only of those is taken as the first of ``dataset_names()``: Taskonomy, the paper's main one.
    """
    names, datasets = set(task_names), dataset_names()
    fits = [d for d in datasets if names <= {t.name for t in _table(d, DEFAULT_CONVENTION)}]
    if not fits:
        known = "; ".join(f"{d}: {', '.join(t.name for t in tasks_of(d))}" for d in datasets)
        raise UnknownTaskError(
            f"task names {', '.join(sorted(names))} are not all of one dataset; known: {known}"
        )
    return fits[0]
