"""Reductions: the trials table turned into each paper experiment's tables and pictures.

One module per experiment, each with ``reduce(trials, dataset) -> table``,
``summary(table) -> str`` and ``draw(table, out_dir, fmt="png") -> paths``; the module's
name is the reduction's name, and a sweep's ``reduction`` is one of those names. The
registry is the package itself: every module here except the shared helpers (``HELPERS``)
and private ``_`` modules is a reduction, so adding one is adding its module. Names are
listed without importing anything, a module is imported when first looked up, and drawing
imports matplotlib only when it runs, so checking or reducing a sweep never loads it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import pandas as pd

# Modules of this package that serve the reductions and are not reductions themselves.
HELPERS = frozenset({"naming", "plotting", "table"})
FUNCTIONS = ("reduce", "summary", "draw")


class Reduction(Protocol):
    """What a reduction module provides."""

    def reduce(self, trials: pd.DataFrame, dataset: str) -> pd.DataFrame: ...

    def summary(self, table: pd.DataFrame) -> str: ...

    def draw(self, table: pd.DataFrame, out_dir: Path, fmt: str = "png") -> list[Path]: ...


def reduction_names() -> tuple[str, ...]:
    """The reductions' names, sorted: this package's modules less helpers and private ones."""
    return tuple(
        sorted(
            m.name
            for m in pkgutil.iter_modules(__path__)
            if not m.name.startswith("_") and m.name not in HELPERS
        )
    )


def get_reduction(name: str) -> Reduction:
    """The reduction called ``name``, or ReduceError naming the known ones."""
    from orchestrator.reductions.table import ReduceError

    names = reduction_names()
    if name not in names:
        raise ReduceError(f"unknown reduction {name!r}; known: {', '.join(names)}")
    module = importlib.import_module(f"{__name__}.{name}")
    missing = [f for f in FUNCTIONS if not callable(getattr(module, f, None))]
    if missing:
        raise ReduceError(
            f"reduction module {module.__name__} lacks {', '.join(missing)}; a reduction "
            f"defines {', '.join(FUNCTIONS)} (a helper module belongs in HELPERS)"
        )
    return module  # type: ignore[return-value]


class _Registry(Mapping[str, Reduction]):
    """Name → reduction module, found and imported on lookup (see ``get_reduction``)."""

    def __getitem__(self, name: str) -> Reduction:
        if name not in reduction_names():
            raise KeyError(name)
        return get_reduction(name)

    def __iter__(self) -> Iterator[str]:
        return iter(reduction_names())

    def __len__(self) -> int:
        return len(reduction_names())

    def __repr__(self) -> str:
        return f"REDUCTIONS({', '.join(self)})"


REDUCTIONS: Mapping[str, Reduction] = _Registry()


def reduce_to(
    trials: pd.DataFrame,
    name: str,
    dataset: str,
    table_path: Path,
    picture_dir: Path | None,
    fmt: str = "png",
) -> tuple[list[Path], str]:
    """Reduce a trials table the named way: the table as Parquet at ``table_path`` (summary
    line in its metadata), pictures and extra files in ``picture_dir`` if given. Returns the
    files written and the summary line; bad input raises before anything is written."""
    from orchestrator.reductions.table import picture_path, write_result_table

    reduction = get_reduction(name)
    if picture_dir is not None:
        picture_path(picture_dir, name, fmt)  # refuse an unknown format before writing
    table = reduction.reduce(trials, dataset)
    line = reduction.summary(table)
    paths = [write_result_table(table, Path(table_path), line)]
    if picture_dir is not None:
        paths += reduction.draw(table, Path(picture_dir), fmt=fmt)
    return paths, line
