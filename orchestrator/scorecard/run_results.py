"""What a run folder holds to compare: the result tables ``mtsweep run`` wrote into
``<out>/results/`` and, for an attack table, which published table its sweep reproduces."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from orchestrator.reductions.table import read_result_table
from orchestrator.scorecard.compare import NothingToCompare
from orchestrator.scorecard.published import TABLES

RESULTS = "results"


def load(out: Path, sweep: str | None) -> tuple[pd.DataFrame | None, dict[str, pd.DataFrame]]:
    """The run's Fig. 7 result table (None if it has none) and its attack-table result keyed
    by the published table its sweep (a built-in name or a YAML path, as the run recorded
    it) reproduces; NothingToCompare if it has neither."""
    results = Path(out) / RESULTS
    if not results.is_dir():
        raise NothingToCompare(
            f"{out} has no {RESULTS}/ folder; give the --out of a finished 'mtsweep run'"
        )
    fig7_path, table_path = results / "fig7.parquet", results / "attack_table.parquet"
    fig7 = read_result_table(fig7_path) if fig7_path.exists() else None
    tables = {}
    if table_path.exists() and sweep is not None:
        name = Path(sweep).stem
        for table in TABLES:
            if table.sweep == name:
                tables[table.source] = read_result_table(table_path)
    if fig7 is None and not tables:
        raise NothingToCompare(
            f"{results} holds no result of a sweep the paper published (taskonomy-pairs: "
            "Fig. 7; cityscapes-multitask-attack, -single-task-attack, -adversarial-training: "
            "Tables 1–3); nothing to compare"
        )
    return fig7, tables
