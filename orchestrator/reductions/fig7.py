"""Figure 7: relative improvement of each main/auxiliary pair over the single-task baseline
of its main task and architecture, on the main task's primary metric, seeds averaged first.

``reduce`` gives the result table (docs/formats.md §5); ``summary`` the paper's "improved 90/110, mean
10.23 %" per evaluation; ``draw`` one annotated heatmap per evaluation (and architecture):
rows main tasks, columns the baseline's value, each auxiliary task's improvement and the
row mean. A cell with no finished trial is hatched "n/a", never "no change".

λ_a selection ("λ_a = 0.1 or 0.01 based on the tasks"): where a pair's candidates, trained
once per λ_a, recorded a selection eval (``selection_<split>``: main task, primary metric,
clean, on the preset's ``evaluation.select_split``), the pair is one cell per evaluation,
taken from the candidate that did best there; its reported values never take part in the
choice.

"Significant" in the summary counts cells improved at a 5 % false discovery rate after the
Benjamini–Hochberg adjustment over an evaluation's cells, not cells whose own 95 % interval
excludes 0 (the ``significant`` column, and grey text in the heatmap).
"""

from __future__ import annotations

import json
import math
import textwrap
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from orchestrator.reductions.naming import split_tasks, task_order
from orchestrator.reductions.table import (
    FDR_LEVEL,
    RESULT_COLUMNS,
    ReduceError,
    benjamini_hochberg,
    check_trials,
    improvement_interval,
    improvement_p_value,
    over_seeds,
    picture_path,
    primary_rows,
    relative_improvement,
    seed_means,
    selection_split,
    task_of,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MISSING = "n/a"
_CELL_KEYS = ["eval", "arch", "main_task", "aux_tasks", "aux_weight"]
_PAIR_KEYS = ["arch", "main_task", "aux_tasks"]
# Heatmap layout in inches: a cell (width, height), the least matrix height (it holds the
# colour bar's label and ticks), the least figure width, one character of 8-pt text.
CELL = (0.75, 0.5)
MIN_MATRIX_HEIGHT = 1.8
MIN_WIDTH = 4.0
CHAR = 0.075
_NO_SEEDS = pd.Series(dtype=float)


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


@dataclass(frozen=True)
class Choice:
    """A pair's λ_a as chosen on the selection split, and the best other candidate's (None:
    none left; ``chosen`` None: no candidate has a finite selection value, so the cell stays
    missing)."""

    chosen: float | None
    alternative: float | None
    split: str


def _other_weights(weights: str, aux: str) -> str:
    """A weighting without its auxiliary task's λ: what λ_a candidates must share."""
    return json.dumps({t: w for t, w in json.loads(weights).items() if t != aux}, sort_keys=True)


def _choices(selection: pd.DataFrame) -> dict[tuple[str, str, str], Choice]:
    """(arch, main, aux) → the λ_a whose seed-averaged selection metric is best in the main
    metric's direction, for every pair with selection rows (a baseline's are ignored).

    A tie goes to the larger λ_a, the one that trains the auxiliary task harder: the paper's
    candidates exist to find out whether it helps, and a tie says it does not hurt. A
    candidate without a finite selection value (diverged, or its selection not recorded)
    cannot be chosen. Candidates that differ in anything but λ_a, or were compared on
    different splits, are refused: choosing among them would mix models the table keeps
    apart. ``selection`` carries the split of each row (``selection_split``) as ``split``.
    """
    pairs = selection[selection["aux_tasks"] != ""]
    if pairs["weights"].eq("").any():
        raise ReduceError(
            "trials table has selection rows without `weights`, so its λ_a candidates cannot "
            "be told apart; export it with `mtsweep export`"
        )
    keys = [*_PAIR_KEYS, "weights", "aux_weight", "higher_is_better", "split"]
    stats = over_seeds(pairs, keys)
    out = {}
    for (arch, main, aux), group in stats.groupby(_PAIR_KEYS, sort=False):
        if group["weights"].map(lambda w, a=aux: _other_weights(w, a)).nunique() > 1:
            raise ReduceError(
                f"the λ_a candidates of {main}+{aux} ({arch or 'any arch'}) differ in more "
                "than λ_a; reduce their sweeps separately"
            )
        splits = sorted(group["split"].unique())
        if len(splits) > 1:
            raise ReduceError(
                f"the λ_a candidates of {main}+{aux} ({arch or 'any arch'}) were compared on "
                f"different splits ({', '.join(splits)}); reduce their sweeps separately"
            )
        sign = 1.0 if group["higher_is_better"].iloc[0] else -1.0
        valid = group[np.isfinite(group["value"])]
        ranked = sorted(zip(sign * valid["value"], valid["aux_weight"], strict=True), reverse=True)
        lams = [float(lam) for _, lam in ranked]
        out[(arch, main, aux)] = Choice(
            lams[0] if lams else None, lams[1] if lams[1:] else None, splits[0]
        )
    return out


def _columns(tasks: Iterable[str], weights: Iterable[float]) -> list[tuple[str, float | None]]:
    """(auxiliary task, λ) columns in the paper's order, one per λ a task was trained with;
    λ None only for a task without a known one (or whose λ_a is chosen per cell)."""
    lams: dict[str, set[float | None]] = {}
    for task, weight in zip(tasks, weights, strict=True):
        lams.setdefault(task, set()).add(_lam(weight))
    out = []
    for task in task_order(lams):
        known = sorted(lams[task] - {None})
        out += [(task, lam) for lam in known] or [(task, None)]
    return out


def _selected_columns(
    arch: str, arch_rows: pd.DataFrame, choices: dict[tuple[str, str, str], Choice]
) -> list[tuple[str, float | None]]:
    """An architecture's (auxiliary task, λ) columns: one per λ, but a single λ None column
    for an auxiliary task whose pairs had λ_a chosen (their λ differs from cell to cell)."""
    pairs = arch_rows[arch_rows["aux_tasks"] != ""]
    chosen = pd.Series(
        [
            (arch, m, a) in choices
            for m, a in zip(pairs["main_task"], pairs["aux_tasks"], strict=True)
        ],
        index=pairs.index,
        dtype=bool,
    )
    mixed = set(pairs["aux_tasks"][chosen]) & set(pairs["aux_tasks"][~chosen])
    if mixed:
        raise ReduceError(
            f"trials table has pairs with {', '.join(sorted(mixed))} as auxiliary task both with"
            f" and without λ_a selection ({arch or 'any arch'}); reduce their sweeps separately"
        )
    return _columns(
        [*pairs["aux_tasks"], *arch_rows["main_task"]],
        [*pairs["aux_weight"].where(~chosen), *[math.nan] * len(arch_rows)],
    )


def cell_numbers(
    cell: pd.Series, base: pd.Series, higher_is_better: bool, is_pair: bool
) -> dict[str, Any]:
    """A cell's numbers from its per-seed values and its baseline's, both indexed by seed."""
    baseline = float(base.mean()) if len(base) else math.nan
    value = float(cell.mean()) if len(cell) else math.nan
    low, high, method = (
        improvement_interval(cell, base, higher_is_better)
        if is_pair
        else (math.nan, math.nan, None)
    )
    return {
        "baseline": baseline,
        "value": value,
        "rel_improvement_pct": (
            relative_improvement(value, baseline, higher_is_better) if is_pair else math.nan
        ),
        "n_seeds": len(cell),
        "value_std": float(cell.std(ddof=1)) if len(cell) > 1 else math.nan,
        "ci_low": low,
        "ci_high": high,
        "ci_method": method,
        "significant": (low > 0 or high < 0) if method else None,
        "p_value": improvement_p_value(cell, base) if is_pair else math.nan,
    }


def reduce(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The result table: one row per (eval, arch, main task, auxiliary task, λ), baselines
    included (``aux_task`` None), in the paper's order.

    Cells are every main task present × every (task, λ) column present, main ≠ aux. A cell
    without a finished trial keeps its row with value and improvement NaN. With two or more
    seeds a cell carries the 95 % interval of its improvement (``ci_method`` says paired or
    Welch), ``significant`` (the interval excludes 0), the same test's two-sided ``p_value``
    and ``p_fdr``, the p-value adjusted by Benjamini–Hochberg over the eval's cells, which
    holds the false discovery rate however many cells are tested. Models with two or more
    auxiliary tasks are ignored.

    A pair with selection rows is one cell per eval, from its chosen λ_a (``_choices``):
    ``aux_weight`` the chosen λ, ``alt_aux_weight`` and ``alt_value`` the best other
    candidate's λ and its value in the same eval, ``selected_on`` the split it was chosen on
    (the trials' ``evaluation.select_split``); the three are null for a pair without
    selection and for every baseline.
    """
    rows = _pair_rows(trials, dataset)
    split = rows["eval"].map(selection_split)
    is_selection = split.notna()
    choices = _choices(rows[is_selection].assign(split=split[is_selection]))
    rows = rows[~is_selection]
    seeds = _seed_values(rows)
    out: list[dict[str, Any]] = []
    for eval_ in sorted(rows["eval"].unique(), key=lambda e: (e != "clean", e)):
        for arch, arch_rows in rows.groupby("arch", sort=True):
            columns = _selected_columns(arch, arch_rows, choices)
            for main in task_order(arch_rows["main_task"]):
                task = task_of(dataset, main)
                metric, up = task.primary_metric, task.higher_is_better[task.primary_metric]
                base = seeds.get((eval_, arch, main, "", None), _NO_SEEDS)
                for aux, lam in [("", None), *((a, w) for a, w in columns if a != main)]:
                    choice = choices.get((arch, main, aux))
                    lam, alt = (choice.chosen, choice.alternative) if choice else (lam, None)
                    cell = seeds.get((eval_, arch, main, aux, lam), _NO_SEEDS)
                    alt_cell = None if alt is None else seeds.get((eval_, arch, main, aux, alt))
                    alt_value = math.nan if alt_cell is None else float(alt_cell.mean())
                    out.append(
                        {
                            "eval": eval_,
                            "arch": arch,
                            "main_task": main,
                            "aux_task": aux or None,
                            "aux_weight": math.nan if lam is None else lam,
                            "alt_aux_weight": math.nan if alt is None else alt,
                            "selected_on": choice.split if choice else None,
                            "metric": metric,
                            "higher_is_better": up,
                            "alt_value": alt_value,
                            **cell_numbers(cell, base, up, is_pair=bool(aux)),
                        }
                    )
    table = pd.DataFrame(out, columns=list(RESULT_COLUMNS))
    table["significant"] = table["significant"].astype("boolean")
    table["p_fdr"] = table.groupby("eval", sort=False)["p_value"].transform(benjamini_hochberg)
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
    filled cell has an interval, the cells significantly improved at FDR_LEVEL after the
    Benjamini–Hochberg adjustment (``p_fdr``: 110 cells at 95 % each would count ~5 chance
    hits) and the interval of the mean as the mean of the cells' bounds (conservative: as
    if the cells' errors, which share baselines, were fully correlated)."""
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
            discovered = (filled["p_fdr"] < FDR_LEVEL) & (rel > 0)
            line["significant"] = int(discovered.sum())
            line["ci_low"] = float(filled["ci_low"].mean())
            line["ci_high"] = float(filled["ci_high"].mean())
        summary[str(eval_)] = line
    return summary


def _eval_line(eval_: str, s: dict[str, Any]) -> str:
    if "significant" in s:
        text = (
            f"{eval_}: improved {s['improved']}/{s['total']} ({s['significant']} significant at"
            f" {FDR_LEVEL * 100:g} % FDR, Benjamini–Hochberg), mean"
            f" {s['mean_rel_improvement_pct']:+.2f} % [{s['ci_low']:+.2f}, {s['ci_high']:+.2f}]"
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
        # a chosen λ_a varies from cell to cell: its cells share their task's one λ None column
        lams = pairs["aux_weight"].where(pairs["selected_on"].isna())
        columns = _columns(pairs["aux_task"], lams)
        several = Counter(a for a, _ in columns)
        names = [f"{a} λ={w:g}" if several[a] > 1 else a for a, w in columns]
        by_cell = {
            (r.main_task, r.aux_task, _lam(lam)): r
            for r, lam in zip(pairs.itertuples(), lams, strict=True)
        }
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
    bar = ax.figure.colorbar(mesh, ax=ax, fraction=0.03, pad=0.02)
    bar.set_label("relative improvement (%)", fontsize=8)
    bar.ax.tick_params(labelsize=7)


def heatmap_figure(heatmap: Heatmap, title: str) -> Figure:
    """A heatmap's figure, sized from what it holds so nothing overlaps at any matrix size:
    cells of CELL inches, a matrix never lower than its colour bar needs, room for the
    rotated column names, and the title above everything, wrapped to the figure's width."""
    from orchestrator.reductions.plotting import figure

    columns, rows = heatmap.columns, heatmap.rows
    width = max(MIN_WIDTH, 1.6 + CELL[0] * len(columns) + CHAR * max(map(len, rows)))
    wrap = max(20, int(width / CHAR))
    lines = [piece for line in title.split("\n") for piece in textwrap.wrap(line, wrap)]
    matrix = max(MIN_MATRIX_HEIGHT, CELL[1] * len(rows))
    names = 0.87 * CHAR * max(map(len, columns))  # column names rotated by 60°
    fig = figure(width, matrix + names + 0.2 * len(lines) + 0.8)
    ax = fig.subplots()
    _paint(ax, heatmap)
    ax.axvline(0.5, color="black", linewidth=1)
    ax.axvline(len(columns) - 1.5, color="black", linewidth=1)
    ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    ax.set_xlabel("auxiliary task")
    ax.set_ylabel("main task" + (f" ({heatmap.arch})" if heatmap.arch else ""))
    fig.suptitle("\n".join(lines), fontsize=8)  # above the colour bar too, not only the matrix
    return fig


def heatmap_title(heatmap: Heatmap, per_eval: dict[str, dict[str, Any]]) -> str:
    """The eval's summary line and, where used, what outlines and grey text mean."""
    line = (
        _eval_line(heatmap.eval, per_eval[heatmap.eval])
        if heatmap.eval in per_eval
        else heatmap.eval
    )
    legend = ["outlined: beyond the colour scale"] if heatmap.clipped.any() else []
    if heatmap.muted.any():
        legend.append("grey: 95 % interval includes 0")
    return "\n".join([f"relative improvement (%) — {line}", "; ".join(legend)]).strip()


def draw(table: pd.DataFrame, out_dir: Path, fmt: str = "png") -> list[Path]:
    """``fig7_<eval>[_<arch>].<fmt>``: one heatmap per evaluation (and architecture)."""
    from orchestrator.reductions.plotting import save

    per_eval = summarize(table)
    paths = []
    for heatmap in heatmaps(table):
        path = picture_path(out_dir, heatmap.stem, fmt)  # an unknown format draws nothing
        paths.append(save(heatmap_figure(heatmap, heatmap_title(heatmap, per_eval)), path))
    return paths
