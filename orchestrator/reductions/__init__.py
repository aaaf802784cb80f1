"""Reductions: the trials table turned into each paper experiment's tables and pictures.

One module per experiment, each with ``reduce(trials, dataset) -> table``,
``summary(table) -> str`` and ``draw(table, out_dir, fmt="png") -> paths``. ``REDUCTIONS``
names them; a sweep's ``reduction`` is one of those names. Drawing imports matplotlib only
when it runs, so checking or reducing a sweep never loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import pandas as pd

from orchestrator.reductions import attack_table, fig7, multitask_attack, output_dim
from orchestrator.reductions.table import ReduceError, picture_path, write_result_table


class Reduction(Protocol):
    """What a reduction module provides."""

    def reduce(self, trials: pd.DataFrame, dataset: str) -> pd.DataFrame: ...

    def summary(self, table: pd.DataFrame) -> str: ...

    def draw(self, table: pd.DataFrame, out_dir: Path, fmt: str = "png") -> list[Path]: ...


REDUCTIONS: dict[str, Reduction] = {
    "fig7": fig7,
    "multitask_attack": multitask_attack,
    "attack_table": attack_table,
    "output_dim": output_dim,
}


def reduction_names() -> tuple[str, ...]:
    return tuple(REDUCTIONS)


def get_reduction(name: str) -> Reduction:
    """The reduction called ``name``, or ReduceError naming the known ones."""
    try:
        return REDUCTIONS[name]
    except KeyError:
        known = ", ".join(REDUCTIONS)
        raise ReduceError(f"unknown reduction {name!r}; known: {known}") from None


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
    reduction = get_reduction(name)
    if picture_dir is not None:
        picture_path(picture_dir, name, fmt)  # refuse an unknown format before writing
    table = reduction.reduce(trials, dataset)
    line = reduction.summary(table)
    paths = [write_result_table(table, Path(table_path), line)]
    if picture_dir is not None:
        paths += reduction.draw(table, Path(picture_dir), fmt=fmt)
    return paths, line
