"""What every reduction shares: the trials table's columns and checks, seed statistics,
primary metrics with their direction, relative improvement with its confidence interval and
p-value, the Benjamini–Hochberg adjustment of many cells' p-values, and the Parquet files a
reduction reads and writes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtsweep.atomic import replace_atomically
from mtsweep.errors import MtsweepError

if TYPE_CHECKING:
    from tasks.registry import Task

# The trials table (docs/formats.md §4), the one definition: the exporter writes these columns.
TRIALS_COLUMNS = (
    "sweep",
    "preset",
    "trial_key",
    "model_key",
    "run_id",
    "arch",
    "main_task",
    "aux_tasks",
    "weights",
    "seed",
    "eval",
    "task",
    "metric",
    "value",
    "start_time",
    "end_time",
)
# What a reduction cannot do without; tables exported before the others existed still reduce.
REQUIRED_COLUMNS = ("main_task", "aux_tasks", "seed", "eval", "task", "metric", "value")
# A model's identity: two trials that differ in any of these are never averaged together.
MODEL_COLUMNS = ("arch", "main_task", "aux_tasks", "weights")
# The eval a λ_a-selection trial records on its selection split, ``selection_<split>``
# (orchestrator/trial/run.py's SELECTION; reductions may not import the trial): it chooses a
# model, it is never a result. Stores written before the split was recorded hold the bare
# name, whose split is UNRECORDED.
SELECTION_EVAL = "selection"
UNRECORDED = "unrecorded"
# The result table of Fig. 7 (docs/formats.md §5), with the model's architecture and λ, the
# λ_a selection (chosen λ, the runner-up's λ and value, the split it was chosen on) and the
# seed interval.
RESULT_COLUMNS = (
    "eval",
    "arch",
    "main_task",
    "aux_task",
    "aux_weight",
    "alt_aux_weight",
    "selected_on",
    "metric",
    "higher_is_better",
    "baseline",
    "value",
    "alt_value",
    "rel_improvement_pct",
    "n_seeds",
    "value_std",
    "ci_low",
    "ci_high",
    "ci_method",
    "significant",
    "p_value",
    "p_fdr",
)
CI_LEVEL = 0.95
FDR_LEVEL = 0.05  # the false discovery rate the summaries' "significant" counts hold to
FORMATS = ("png", "pdf", "svg")
SUMMARY_KEY = b"mtsweep.summary"


class ReduceError(MtsweepError):
    """A trials table or result file that cannot be reduced; the message says what to do."""


# --------------------------------------------------------------------------- trials table


def task_of(dataset: str, name: str) -> Task:
    """The registry's task, or ReduceError naming the unknown one."""
    from tasks.registry import UnknownTaskError, get_task  # torch: not for table readers

    try:
        return get_task(dataset, name)
    except UnknownTaskError as err:
        raise ReduceError(f"trials table: {err}; reduce with the sweep's dataset") from None


def _canonical_weights(raw: object) -> str:
    """One spelling per weighting (sorted JSON), so equal λ group together; "" if unknown."""
    if raw is None or (isinstance(raw, float) and math.isnan(raw)) or raw == "":
        return ""
    try:
        weights = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except (TypeError, ValueError):
        raise ReduceError(
            f"trials table: `weights` {raw!r} is not a JSON object; export it with `mtsweep export`"
        ) from None
    return json.dumps({str(k): float(v) for k, v in weights.items()}, sort_keys=True)


def check_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials table with every TRIALS_COLUMNS column, numeric values and integer seeds.

    A table exported before the model-identity columns existed gets them empty, so all its
    trials of one (main, aux) pair count as one model.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in trials.columns]
    if missing:
        raise ReduceError(
            f"trials table lacks column(s) {', '.join(missing)}; export it with `mtsweep export`"
        )
    if trials.empty:
        raise ReduceError("trials table is empty; run the sweep (or export it) first")
    out = trials.reindex(columns=list(TRIALS_COLUMNS)).reset_index(drop=True)
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    seeds = pd.to_numeric(out["seed"], errors="coerce")
    if seeds.isna().any():
        raise ReduceError("trials table has a non-integer `seed`; export it with `mtsweep export`")
    out["seed"] = seeds.astype(int)
    for column in ("arch", "main_task", "aux_tasks"):
        out[column] = out[column].where(out[column].notna(), "").astype(str)
    out["weights"] = out["weights"].map(_canonical_weights)
    return out


def selection_split(eval_name: str) -> str | None:
    """The split a λ_a-selection eval was measured on (``selection_val`` → "val";
    UNRECORDED for the bare ``selection``); None for an eval that is not a selection."""
    if eval_name == SELECTION_EVAL:
        return UNRECORDED
    prefix = f"{SELECTION_EVAL}_"
    return eval_name.removeprefix(prefix) or None if eval_name.startswith(prefix) else None


def seed_means(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """``value`` per key and seed; a seed's own duplicates are averaged so seeds weigh the same."""
    return rows.groupby([*keys, "seed"], dropna=False)["value"].mean().reset_index()


def over_seeds(rows: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Mean, sample standard deviation (ddof 1; NaN for one seed) and seed count per key."""
    stats = seed_means(rows, keys).groupby(list(keys), dropna=False)["value"]
    out = stats.agg(value="mean", value_std=lambda v: v.std(ddof=1), n_seeds="count")
    return out.reset_index()


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


# --------------------------------------------------------------------------- improvement


def relative_improvement(value: float, baseline: float, higher_is_better: bool) -> float:
    """(value − baseline)/baseline·100, sign flipped where lower is better; NaN if unknown."""
    if not (math.isfinite(value) and math.isfinite(baseline)) or baseline == 0:
        return math.nan
    gain = value - baseline if higher_is_better else baseline - value
    return gain / abs(baseline) * 100.0


@dataclass(frozen=True)
class _Gain:
    """The seed-wise gain of a model over its baseline (metric units, ``higher_is_better``
    sign not applied): its mean, standard error, degrees of freedom and test."""

    mean: float
    se: float
    df: float
    method: str


def _gain(values: pd.Series, baseline: pd.Series) -> _Gain | None:
    """Paired over seeds when model and baseline have the same two or more seeds (a seed fixes
    the data order, so its runs are correlated); Welch when both have two or more seeds
    otherwise; None when neither applies."""
    if len(values) < 2 or len(baseline) < 2:
        return None
    if set(values.index) == set(baseline.index):
        gains = values - baseline.reindex(values.index)
        se = float(gains.std(ddof=1)) / math.sqrt(len(gains))
        return _Gain(float(gains.mean()), se, len(gains) - 1, "paired")
    var_v, var_b = values.var(ddof=1) / len(values), baseline.var(ddof=1) / len(baseline)
    se = math.sqrt(var_v + var_b)
    df = math.nan
    if se > 0:  # Welch–Satterthwaite degrees of freedom
        df = se**4 / (var_v**2 / (len(values) - 1) + var_b**2 / (len(baseline) - 1))
    return _Gain(float(values.mean() - baseline.mean()), se, df, "welch")


def improvement_interval(
    values: pd.Series, baseline: pd.Series, higher_is_better: bool
) -> tuple[float, float, str | None]:
    """The 95 % t-interval of the relative improvement, from per-seed means indexed by seed.

    Paired or Welch as ``_gain`` decides; (NaN, NaN, None) when neither applies. The interval
    is for the gain in the metric, divided by the seed-averaged baseline, so it is centred on
    ``relative_improvement`` of the seed means.
    """
    from scipy import stats  # kept off the import path of the CLI

    base = float(baseline.mean())
    gain = _gain(values, baseline)
    if gain is None or not math.isfinite(base) or base == 0:
        return math.nan, math.nan, None
    centre = relative_improvement(float(values.mean()), base, higher_is_better)
    if gain.se == 0:  # every seed moved together: the interval is the point
        return centre, centre, gain.method
    half = float(stats.t.ppf(0.5 + CI_LEVEL / 2, gain.df)) * gain.se / abs(base) * 100.0
    return centre - half, centre + half, gain.method


def improvement_p_value(values: pd.Series, baseline: pd.Series) -> float:
    """The two-sided p-value of "no change" by the same t-test as ``improvement_interval``
    (below 0.05 exactly when its 95 % interval excludes 0); NaN when there is no test."""
    from scipy import stats

    gain = _gain(values, baseline)
    if gain is None or not math.isfinite(gain.mean):
        return math.nan
    if gain.se == 0:  # every seed moved together: certain, whichever way
        return 1.0 if gain.mean == 0 else 0.0
    return float(2 * stats.t.sf(abs(gain.mean) / gain.se, gain.df))


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values, in the input's order: a cell whose adjusted value
    is below q is a discovery at false discovery rate q among all the cells tested together.
    NaN (no test) stays NaN and is not counted among the tests."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    if not tested.size:
        return out
    order = tested[np.argsort(p[tested], kind="stable")]
    scaled = p[order] * tested.size / np.arange(1, tested.size + 1)
    out[order] = np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)
    return out


# --------------------------------------------------------------------------- files


def picture_path(out_dir: Path, stem: str, fmt: str) -> Path:
    """``<out_dir>/<stem>.<fmt>``, or ReduceError for a format the pictures are not drawn in."""
    if fmt not in FORMATS:
        raise ReduceError(f"unknown picture format {fmt!r}; known: {', '.join(FORMATS)}")
    return Path(out_dir) / f"{stem}.{fmt}"


LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "λ": r"$\lambda$",
    "↑": r"$\uparrow$",
    "↓": r"$\downarrow$",
}


def latex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters (and λ, arrows) written as LaTeX."""
    return "".join(LATEX_SPECIALS.get(c, c) for c in text)


def write_text(text: str, path: Path) -> Path:
    """A text file (Markdown, LaTeX), atomically."""
    return replace_atomically(Path(path), lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_result_table(table: pd.DataFrame, path: Path, summary: str) -> Path:
    """A reduction's table as Parquet, its summary line in the file's metadata; atomic."""
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = {**(arrow.schema.metadata or {}), SUMMARY_KEY: summary.encode()}
    arrow = arrow.replace_schema_metadata(meta)
    return replace_atomically(Path(path), lambda tmp: pq.write_table(arrow, tmp))


def _read_parquet(path: Path, what: str) -> pa.Table:
    try:
        return pq.read_table(path)
    except FileNotFoundError:
        raise ReduceError(f"{what} {path} does not exist") from None
    except (pa.ArrowInvalid, OSError) as err:
        raise ReduceError(f"{what} {path} is not a readable Parquet file ({err})") from None


def read_result_table(path: Path) -> pd.DataFrame:
    """A table written by ``write_result_table``."""
    return _read_parquet(Path(path), "result table").to_pandas()


def read_summary(path: Path) -> str:
    """The summary line stored in a result file's metadata by ``write_result_table``."""
    meta = _read_parquet(Path(path), "result table").schema.metadata or {}
    if SUMMARY_KEY not in meta:
        raise ReduceError(f"{path} has no mtsweep summary; write it with `mtsweep reduce`")
    return meta[SUMMARY_KEY].decode()


def load_trials_table(path: Path) -> pd.DataFrame:
    """A trials table from Parquet, checked; ReduceError names the file if it is not one."""
    table = _read_parquet(Path(path), "trials table").to_pandas()
    try:
        return check_trials(table)
    except ReduceError as err:
        raise ReduceError(f"{path}: {err}") from None
