"""Reductions: the trials table turned into each paper experiment's tables and pictures.

One module per experiment, each with ``reduce(trials, dataset) -> table``,
``summary(table) -> str`` and ``draw(table, out_dir, fmt="png") -> paths``, and if it has
numbers worth recording per evaluation, ``summarize(table) -> {eval: {name: number}}`` (the
sweep's MLflow run records them as metrics). Each reduction is registered below by name and
module, one line each; its module is imported when first looked up, so listing or checking
names imports neither pandas nor torch, and drawing imports matplotlib only when it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtsweep.errors import MtsweepError
from mtsweep.registry import Registry

if TYPE_CHECKING:
    import pandas as pd

FUNCTIONS = ("reduce", "summary", "draw")  # every reduction defines these


class ReductionError(MtsweepError):
    """A reduction name no module registers, or a registered module that is no reduction."""


# Reduction name -> its module, imported on first lookup.
REDUCTIONS: Registry[str] = Registry("reduction", ReductionError)
REDUCTIONS.register("attack_strength", f"{__name__}.attack_strength")
REDUCTIONS.register("attack_table", f"{__name__}.attack_table")
REDUCTIONS.register("fig7", f"{__name__}.fig7")
REDUCTIONS.register("multitask_attack", f"{__name__}.multitask_attack")
REDUCTIONS.register("output_dim", f"{__name__}.output_dim")


def _no_numbers(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    return {}


@dataclass(frozen=True)
class Reduction:
    """What a reduction module provides: every hook the project calls."""

    name: str
    reduce: Callable[[pd.DataFrame, str], pd.DataFrame]
    summary: Callable[[pd.DataFrame], str]
    draw: Callable[..., list[Path]]  # (table, out_dir, fmt="png") -> files written
    summarize: Callable[[pd.DataFrame], dict[str, dict[str, Any]]] = _no_numbers


def reduction_names() -> tuple[str, ...]:
    """The registered reductions' names (no module is imported)."""
    return REDUCTIONS.names()


def get_reduction(name: str) -> Reduction:
    """The reduction called ``name``, or ReductionError naming the known ones."""
    module = importlib.import_module(REDUCTIONS.get(name))
    missing = [f for f in FUNCTIONS if not callable(getattr(module, f, None))]
    if missing:
        raise ReductionError(
            f"reduction module {module.__name__} lacks {', '.join(missing)}; a reduction "
            f"defines {', '.join(FUNCTIONS)}"
        )
    hooks = {f: getattr(module, f) for f in (*FUNCTIONS, "summarize") if hasattr(module, f)}
    return Reduction(name, **hooks)


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
