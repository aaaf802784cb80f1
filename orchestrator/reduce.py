"""The Figure 7 reduction: relative improvement of each main/auxiliary pair over the
single-task baseline of its main task, on the main task's primary metric.

Also the pieces every reduction shares: checking a trials table, averaging over seeds,
keeping primary metrics with their direction (``reduce_paper`` builds on them).
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orchestrator.atomic import replace_atomically
from tasks.registry import Task, UnknownTaskError, get_task

log = logging.getLogger(__name__)

TRIAL_COLUMNS = ("trial_key", "main_task", "aux_tasks", "seed", "eval", "task", "metric", "value")
RESULT_COLUMNS = (
    "eval",
    "main_task",
    "aux_task",
    "metric",
    "higher_is_better",
    "baseline",
    "value",
    "rel_improvement_pct",
    "n_seeds",
    "value_std",
)
SUMMARY_KEY = b"mtsweep.summary"


class ReduceError(ValueError):
    """A trials table or result file that cannot be reduced; the message says what to do."""


# --------------------------------------------------------------------------- shared steps


def task_of(dataset: str, name: str) -> Task:
    """The registry's task, or ReduceError naming the unknown one."""
    try:
        return get_task(dataset, name)
    except UnknownTaskError as err:
        raise ReduceError(f"trials table: {err}; reduce with the sweep's dataset") from None


def check_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials table with numeric values, or ReduceError if it cannot be one."""
    missing = [c for c in TRIAL_COLUMNS if c not in trials.columns]
    if missing:
        raise ReduceError(
            f"trials table lacks column(s) {', '.join(missing)}; export it with `mtsweep export`"
        )
    if trials.empty:
        raise ReduceError("trials table is empty; run the sweep (or export it) first")
    out = trials.loc[:, list(TRIAL_COLUMNS)].copy()
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    seeds = pd.to_numeric(out["seed"], errors="coerce")
    if seeds.isna().any():
        raise ReduceError("trials table has a non-integer `seed`; export it with `mtsweep export`")
    out["seed"] = seeds.astype(int)
    out["aux_tasks"] = out["aux_tasks"].where(out["aux_tasks"].notna(), "").astype(str)
    return out


def over_seeds(rows: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Mean, standard deviation (over seeds, ddof 0) and seed count of ``value`` per key.

    A seed's own duplicates (the same metric logged twice) are averaged first, so every
    seed weighs the same.
    """
    per_seed = rows.groupby([*keys, "seed"], dropna=False)["value"].mean().reset_index()
    stats = per_seed.groupby(keys, dropna=False)["value"].agg(
        value="mean",
        value_std=lambda v: float(np.std(v.dropna())) if v.notna().any() else np.nan,
        n_seeds="count",
    )
    return stats.reset_index()


def primary_rows(rows: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Only the rows that hold their task's primary metric, with its direction."""
    tasks = {name: task_of(dataset, name) for name in rows["task"].unique()}
    keep = rows[
        [tasks[t].primary_metric == m for t, m in zip(rows["task"], rows["metric"], strict=True)]
    ].copy()
    keep["higher_is_better"] = [
        tasks[t].higher_is_better[m] for t, m in zip(keep["task"], keep["metric"], strict=True)
    ]
    return keep


def relative_improvement(value: float, baseline: float, higher_is_better: bool) -> float:
    """(value − baseline)/baseline·100, sign flipped where lower is better; NaN if unknown."""
    if not (math.isfinite(value) and math.isfinite(baseline)) or baseline == 0:
        return math.nan
    gain = value - baseline if higher_is_better else baseline - value
    return gain / abs(baseline) * 100.0


# --------------------------------------------------------------------------- Fig. 7


def reduce_trials(trials: pd.DataFrame, dataset: str = "taskonomy") -> pd.DataFrame:
    """The result table: one row per (eval, main task, auxiliary task), baselines included.

    Cells are every (main, aux) over the main tasks present × all tasks present, main ≠ aux.
    A cell without a finished trial keeps its row with value and improvement NaN, so a
    matrix shows it as missing, never as 0. The baseline's own row has ``aux_task`` None
    and ``rel_improvement_pct`` NaN. Models with two or more auxiliary tasks are ignored.
    """
    rows = check_trials(trials)
    n_aux = rows["aux_tasks"].map(lambda a: len([p for p in a.split("+") if p]))
    rows = rows[(n_aux <= 1) & ~rows["main_task"].str.contains("+", regex=False)]
    rows = rows[rows["task"] == rows["main_task"]]
    if rows.empty:
        raise ReduceError(
            "trials table has no main-task rows of baselines or main/auxiliary pairs; "
            "reduce a taskonomy-pairs sweep (or pick its reduction)"
        )
    rows = primary_rows(rows, dataset)
    stats = over_seeds(rows, ["eval", "main_task", "aux_tasks"])
    by_cell = {(s.eval, s.main_task, s.aux_tasks): s for s in stats.itertuples()}
    mains = sorted(rows["main_task"].unique())
    auxes = sorted(set(mains) | {a for a in rows["aux_tasks"].unique() if a})
    out: list[dict[str, Any]] = []
    for eval_ in sorted(rows["eval"].unique(), key=lambda e: (e != "clean", e)):
        for main in mains:
            task = task_of(dataset, main)
            metric, up = task.primary_metric, task.higher_is_better[task.primary_metric]
            base = by_cell.get((eval_, main, ""))
            baseline = float(base.value) if base is not None else math.nan
            for aux in [None, *(a for a in auxes if a != main)]:
                cell = by_cell.get((eval_, main, aux or ""))
                value = float(cell.value) if cell is not None else math.nan
                out.append(
                    {
                        "eval": eval_,
                        "main_task": main,
                        "aux_task": aux,
                        "metric": metric,
                        "higher_is_better": up,
                        "baseline": baseline,
                        "value": value,
                        "rel_improvement_pct": (
                            math.nan if aux is None else relative_improvement(value, baseline, up)
                        ),
                        "n_seeds": int(cell.n_seeds) if cell is not None else 0,
                        "value_std": float(cell.value_std) if cell is not None else math.nan,
                    }
                )
    return pd.DataFrame(out, columns=list(RESULT_COLUMNS))


def cells(result: pd.DataFrame) -> pd.DataFrame:
    """The pair rows (auxiliary task set) of a result table."""
    return result[result["aux_task"].notna()]


def row_means(result: pd.DataFrame) -> pd.DataFrame:
    """Fig. 7's "Mean" column: per (eval, main task), the mean improvement over filled cells."""
    grouped = cells(result).groupby(["eval", "main_task"], sort=False)["rel_improvement_pct"]
    out = grouped.agg(mean_rel_improvement_pct="mean", n_cells="count").reset_index()
    return out


def summarize(result: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per eval, the paper's "improved 90/110, mean 10.23 %" over filled cells."""
    summary = {}
    for eval_, group in cells(result).groupby("eval", sort=False):
        rel = group["rel_improvement_pct"]
        filled = rel.dropna()
        summary[str(eval_)] = {
            "improved": int((filled > 0).sum()),
            "total": int(len(filled)),
            "mean_rel_improvement_pct": float(filled.mean()) if len(filled) else math.nan,
            "missing": int(rel.isna().sum()),
        }
    return summary


def summary_line(summary: dict[str, dict[str, Any]]) -> str:
    """``pgd50_eps4: improved 90/110 cells, mean +10.23 %; clean: …`` (attacks first)."""
    parts = []
    for eval_ in sorted(summary, key=lambda e: (e == "clean", e)):
        s = summary[eval_]
        text = f"{eval_}: improved {s['improved']}/{s['total']} cells"
        if s["total"]:
            text += f", mean {s['mean_rel_improvement_pct']:+.2f} %"
        if s["missing"]:
            text += f" ({s['missing']} missing)"
        parts.append(text)
    return "; ".join(parts)


# --------------------------------------------------------------------------- files


def write_result(result: pd.DataFrame, path: Path) -> Path:
    """The result table as Parquet, with the summary in the file's metadata; atomic."""
    table = pa.Table.from_pandas(result, preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[SUMMARY_KEY] = json.dumps(summarize(result)).encode()
    table = table.replace_schema_metadata(meta)
    return replace_atomically(Path(path), lambda tmp: pq.write_table(table, tmp))


def _read_parquet(path: Path, what: str) -> pa.Table:
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise ReduceError(f"{what} {path} does not exist") from None
    except (pa.ArrowInvalid, OSError) as err:
        raise ReduceError(f"{what} {path} is not a readable Parquet file ({err})") from None


def read_result(path: Path) -> pd.DataFrame:
    return _read_parquet(Path(path), "result table").to_pandas()


def read_summary(path: Path) -> dict[str, dict[str, Any]]:
    """The summary stored in a result file's metadata by ``write_result``."""
    meta = _read_parquet(Path(path), "result table").schema.metadata or {}
    if SUMMARY_KEY not in meta:
        raise ReduceError(f"{path} has no mtsweep summary; write it with `mtsweep reduce`")
    return json.loads(meta[SUMMARY_KEY])


def load_trials_table(path: Path) -> pd.DataFrame:
    """A trials table from Parquet, checked; ReduceError names the file if it is not one."""
    table = _read_parquet(Path(path), "trials table").to_pandas()
    try:
        return check_trials(table)
    except ReduceError as err:
        raise ReduceError(f"{path}: {err}") from None
