"""Figure 7: relative improvement of each main/auxiliary pair over the single-task baseline
of its main task and architecture, on the main task's primary metric, seeds averaged first.

``reduce`` gives DESIGN's result table; ``summary`` the paper's "improved 90/110, mean
10.23 %" per evaluation; ``draw`` one annotated heatmap per evaluation (and architecture):
rows main tasks, columns the baseline's value, each auxiliary task's improvement and the
row mean. A cell with no finished trial is hatched "n/a", never "no change".
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from orchestrator.reductions.naming import split_tasks, task_order
from orchestrator.reductions.table import (
    RESULT_COLUMNS,
    ReduceError,
    check_trials,
    improvement_interval,
    picture_path,
    primary_rows,
    relative_improvement,
    seed_means,
    task_of,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MISSING = "n/a"
_CELL_KEYS = ["eval", "arch", "main_task", "aux_tasks", "aux_weight"]


# --------------------------------------------------------------------------- reduce


def _aux_weight(weights: str, aux: str) -> float:
    """λ of a pair's auxiliary task; NaN for a baseline or a table without weights."""
    return float(json.loads(weights).get(aux, math.nan)) if weights and aux else math.nan


def _lam(weight: float) -> float | None:
    """λ as a dictionary key: NaN (unknown) becomes None, which equals itself."""
    return None if math.isnan(weight) else float(weight)


def _pair_rows(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Main-task primary-metric rows of baselines and single-auxiliary pairs, with λ."""
    rows = check_trials(trials)
    n_aux = rows["aux_tasks"].map(lambda a: len(split_tasks(a)))
    rows = rows[(n_aux <= 1) & ~rows["main_task"].str.contains("+", regex=False)]
    rows = rows[rows["task"] == rows["main_task"]]
    if rows.empty:
        raise ReduceError(
            "trials table has no main-task rows of baselines or main/auxiliary pairs; "
            "reduce a taskonomy-pairs sweep (or pick its reduction)"
        )
    rows = primary_rows(rows, dataset)
    rows["aux_weight"] = [
        _aux_weight(w, a) for w, a in zip(rows["weights"], rows["aux_tasks"], strict=True)
    ]
    ambiguous = rows.groupby(_CELL_KEYS, dropna=False)["weights"].nunique()
    if (ambiguous > 1).any():
        eval_, arch, main, aux, _ = ambiguous[ambiguous > 1].index[0]
        raise ReduceError(
            f"trials table has two weightings of {main}+{aux or '(baseline)'} ({arch or 'any arch'},"
            f" {eval_}) with one auxiliary weight; reduce their sweeps separately"
        )
    return rows


def _seed_values(rows: pd.DataFrame) -> dict[tuple, pd.Series]:
    """(eval, arch, main, aux, λ or None) → that model's per-seed value, indexed by seed."""
    per_seed = seed_means(rows, _CELL_KEYS)
    return {
        (e, arch, m, a, _lam(w)): group.set_index("seed")["value"]
        for (e, arch, m, a, w), group in per_seed.groupby(_CELL_KEYS, dropna=False)
    }


def _columns(tasks: Iterable[str], weights: Iterable[float]) -> list[tuple[str, float | None]]:
    """(auxiliary task, λ) columns in the paper's order, one per λ a task was trained with;
    λ None only for a task without a known one."""
    lams: dict[str, set[float | None]] = {}
    for task, weight in zip(tasks, weights, strict=True):
        lams.setdefault(task, set()).add(_lam(weight))
    out = []
    for task in task_order(lams):
        known = sorted(lams[task] - {None})
        out += [(task, lam) for lam in known] or [(task, None)]
    return out


def reduce(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The result table: one row per (eval, arch, main task, auxiliary task, λ), baselines
    included (``aux_task`` None), in the paper's order.

    Cells are every main task present × every (task, λ) column present, main ≠ aux. A cell
    without a finished trial keeps its row with value and improvement NaN. With two or more
    seeds a cell carries the 95 % interval of its improvement (``ci_method`` says paired or
    Welch) and ``significant`` (the interval excludes 0). Models with two or more auxiliary
    tasks are ignored.
    """
    rows = _pair_rows(trials, dataset)
    seeds = _seed_values(rows)
    out: list[dict[str, Any]] = []
    for eval_ in sorted(rows["eval"].unique(), key=lambda e: (e != "clean", e)):
        for arch, arch_rows in rows.groupby("arch", sort=True):
            pairs = arch_rows[arch_rows["aux_tasks"] != ""]
            columns = _columns(
                [*pairs["aux_tasks"], *arch_rows["main_task"]],
                [*pairs["aux_weight"], *[math.nan] * len(arch_rows)],
            )
            for main in task_order(arch_rows["main_task"]):
                task = task_of(dataset, main)
                metric, up = task.primary_metric, task.higher_is_better[task.primary_metric]
                base = seeds.get((eval_, arch, main, "", None), pd.Series(dtype=float))
                baseline = float(base.mean()) if len(base) else math.nan
                for aux, lam in [("", None), *((a, w) for a, w in columns if a != main)]:
                    cell = seeds.get((eval_, arch, main, aux, lam), pd.Series(dtype=float))
                    value = float(cell.mean()) if len(cell) else math.nan
                    low, high, method = (
                        improvement_interval(cell, base, up) if aux else (math.nan, math.nan, None)
                    )
                    out.append(
                        {
                            "eval": eval_,
                            "arch": arch,
                            "main_task": main,
                            "aux_task": aux or None,
                            "aux_weight": math.nan if lam is None else lam,
                            "metric": metric,
                            "higher_is_better": up,
                            "baseline": baseline,
                            "value": value,
                            "rel_improvement_pct": (
                                relative_improvement(value, baseline, up) if aux else math.nan
                            ),
                            "n_seeds": len(cell),
                            "value_std": float(cell.std(ddof=1)) if len(cell) > 1 else math.nan,
                            "ci_low": low,
                            "ci_high": high,
                            "ci_method": method,
                            "significant": (low > 0 or high < 0) if method else None,
                        }
                    )
    table = pd.DataFrame(out, columns=list(RESULT_COLUMNS))
    table["significant"] = table["significant"].astype("boolean")
    return table


# --------------------------------------------------------------------------- summary


def cells(table: pd.DataFrame) -> pd.DataFrame:
    """The pair rows (auxiliary task set) of a result table."""
    return table[table["aux_task"].notna()]


def row_means(table: pd.DataFrame) -> pd.DataFrame:
    """Fig. 7's "Mean" column: per (eval, arch, main task), the mean over filled cells."""
    grouped = cells(table).groupby(["eval", "arch", "main_task"], sort=False)
    return (
        grouped["rel_improvement_pct"]
        .agg(mean_rel_improvement_pct="mean", n_cells="count")
        .reset_index()
    )


def summarize(table: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per eval: cells improved out of filled ones, their mean, cells missing; and where every
    filled cell has an interval, the cells significantly improved and the interval of the
    mean as the mean of the cells' bounds (conservative: as if the cells' errors, which
    share baselines, were fully correlated)."""
    summary = {}
    for eval_, group in cells(table).groupby("eval", sort=False):
        filled = group[group["rel_improvement_pct"].notna()]
        rel = filled["rel_improvement_pct"]
        line: dict[str, Any] = {
            "improved": int((rel > 0).sum()),
            "total": len(filled),
            "mean_rel_improvement_pct": float(rel.mean()) if len(filled) else math.nan,
            "missing": int(len(group) - len(filled)),
        }
        if len(filled) and filled["ci_method"].notna().all():
            line["significant"] = int((filled["ci_low"] > 0).sum())
            line["ci_low"] = float(filled["ci_low"].mean())
            line["ci_high"] = float(filled["ci_high"].mean())
        summary[str(eval_)] = line
    return summary


def _eval_line(eval_: str, s: dict[str, Any]) -> str:
    if "significant" in s:
        text = (
            f"{eval_}: improved {s['improved']}/{s['total']} ({s['significant']} significant at"
            f" 95 %), mean {s['mean_rel_improvement_pct']:+.2f} % [{s['ci_low']:+.2f},"
            f" {s['ci_high']:+.2f}]"
        )
    else:
        text = f"{eval_}: improved {s['improved']}/{s['total']} cells"
        if s["total"]:
            text += f", mean {s['mean_rel_improvement_pct']:+.2f} %"
    return text + (f" ({s['missing']} missing)" if s["missing"] else "")


def summary(table: pd.DataFrame) -> str:
    """``pgd50_eps4: improved 90/110 cells, mean +10.23 %; clean: …`` (attacks first)."""
    per_eval = summarize(table)
    return "; ".join(
        _eval_line(e, per_eval[e]) for e in sorted(per_eval, key=lambda e: (e == "clean", e))
    )


# --------------------------------------------------------------------------- draw


@dataclass(frozen=True)
class Heatmap:
    """One Fig. 7 matrix exactly as drawn: texts, colour values (NaN: not coloured), cells
    whose interval includes 0 (grey text) and the colour limit (beyond it: outlined)."""

    eval: str
    arch: str
    rows: list[str]
    columns: list[str]
    texts: list[list[str]]
    values: np.ndarray
    muted: np.ndarray
    limit: float
    stem: str

    @property
    def clipped(self) -> np.ndarray:
        return np.abs(np.nan_to_num(self.values)) > self.limit


def _text(value: float, spec: str) -> str:
    return MISSING if math.isnan(value) else format(value, spec)


def colour_limit(values: np.ndarray) -> float:
    """The 95th percentile of |value| (an observed value, so one outlier cannot set it)."""
    magnitudes = np.abs(values[np.isfinite(values)])
    if not magnitudes.size:
        return 1.0
    return max(float(np.percentile(magnitudes, 95, method="lower")), 1e-6)


def heatmaps(table: pd.DataFrame) -> list[Heatmap]:
    """One heatmap per (eval, arch) of a result table, rows and columns in the paper's order."""
    several_archs = table["arch"].nunique() > 1
    means = row_means(table).set_index(["eval", "arch", "main_task"])["mean_rel_improvement_pct"]
    out = []
    for (eval_, arch), rows in table.groupby(["eval", "arch"], sort=False):
        pairs = cells(rows)
        mains = task_order(rows["main_task"])
        columns = _columns(pairs["aux_task"], pairs["aux_weight"])
        several = pairs.groupby("aux_task")["aux_weight"].nunique() > 1
        names = [f"{a} λ={w:g}" if w is not None and several[a] else a for a, w in columns]
        by_cell = {(r.main_task, r.aux_task, _lam(r.aux_weight)): r for r in pairs.itertuples()}
        baselines = rows[rows["aux_task"].isna()].set_index("main_task")["baseline"]
        values = np.full((len(mains), len(columns) + 2), np.nan)
        muted = np.zeros(values.shape, dtype=bool)
        texts = []
        for i, main in enumerate(mains):
            base = baselines.get(main, math.nan)
            line = [_text(base, ".3g")]
            for j, (aux, lam) in enumerate(columns, start=1):
                cell = by_cell.get((main, aux, lam))
                values[i, j] = math.nan if cell is None else cell.rel_improvement_pct
                muted[i, j] = (
                    cell is not None and pd.notna(cell.significant) and not cell.significant
                )
                line.append("" if aux == main else _text(values[i, j], "+.2f"))
            values[i, -1] = means.get((eval_, arch, main), math.nan)
            line.append(_text(values[i, -1], "+.2f"))
            texts.append(line)
        stem = f"fig7_{eval_}" + (f"_{arch}" if several_archs and arch else "")
        out.append(
            Heatmap(
                eval_,
                arch,
                mains,
                ["baseline", *names, "mean"],
                texts,
                values,
                muted,
                colour_limit(values[:, 1:-1]),  # the cells, not their row means
                stem,
            )
        )
    return out


def _paint(ax: Axes, heatmap: Heatmap) -> None:
    """Colours, texts, hatched missing cells, outlined clipped cells, grey uncertain texts."""
    from matplotlib import colormaps
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    from orchestrator.reductions.plotting import MUTED

    limit = heatmap.limit
    cmap = colormaps["RdBu"].with_extremes(bad="white")
    mesh = ax.imshow(
        heatmap.values, cmap=cmap, norm=TwoSlopeNorm(0.0, -limit, limit), aspect="auto"
    )
    clipped = heatmap.clipped
    for i, line in enumerate(heatmap.texts):
        for j, text in enumerate(line):
            corner = (j - 0.5, i - 0.5)
            if text == MISSING and j > 0:
                ax.add_patch(
                    Rectangle(
                        corner, 1, 1, facecolor="0.85", hatch="///", edgecolor="0.6", linewidth=0
                    )
                )
            if clipped[i, j]:
                ax.add_patch(Rectangle(corner, 1, 1, fill=False, edgecolor="black", linewidth=1.5))
            strong = abs(np.nan_to_num(heatmap.values[i, j])) > 0.6 * limit
            colour = MUTED if heatmap.muted[i, j] else "white" if strong else "black"
            ax.text(j, i, text, ha="center", va="center", fontsize=7, color=colour)
    ax.figure.colorbar(mesh, ax=ax, fraction=0.03, pad=0.02, label="relative improvement (%)")


def draw(table: pd.DataFrame, out_dir: Path, fmt: str = "png") -> list[Path]:
    """``fig7_<eval>[_<arch>].<fmt>``: one heatmap per evaluation (and architecture)."""
    from orchestrator.reductions.plotting import figure, save

    per_eval = summarize(table)
    paths = []
    for heatmap in heatmaps(table):
        path = picture_path(out_dir, heatmap.stem, fmt)
        columns = heatmap.columns
        fig = figure(1.0 + 0.75 * len(columns), 1.2 + 0.5 * len(heatmap.rows))
        ax = fig.subplots()
        _paint(ax, heatmap)
        ax.axvline(0.5, color="black", linewidth=1)
        ax.axvline(len(columns) - 1.5, color="black", linewidth=1)
        ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(heatmap.rows)), heatmap.rows, fontsize=8)
        ax.set_xlabel("auxiliary task")
        ax.set_ylabel("main task" + (f" ({heatmap.arch})" if heatmap.arch else ""))
        line = (
            _eval_line(heatmap.eval, per_eval[heatmap.eval])
            if heatmap.eval in per_eval
            else heatmap.eval
        )
        ax.set_title(
            f"relative improvement (%) — {line}\n"
            "outlined: beyond the colour scale; grey: 95 % interval includes 0",
            fontsize=8,
        )
        paths.append(save(fig, path))
    return paths
