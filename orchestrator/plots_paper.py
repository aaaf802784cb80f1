"""Pictures and Markdown of the paper's other experiments, and the step that writes them.

Each picture reads only the tidy table its reduction in ``reduce_paper`` returns, in that
table's order, so a table saved to Parquet can be drawn again later. ``REDUCTIONS`` maps a
sweep's ``reduction`` name to the function that reduces its trials and writes every file.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from orchestrator.atomic import replace_atomically, write_parquet
from orchestrator.reduce import ReduceError
from orchestrator.reduce_paper import (
    attack_table_summary,
    eval_order,
    joint_norms,
    multitask_attack_summary,
    output_dim_summary,
    reduce_attack_table,
    reduce_multitask_attack,
    reduce_output_dim,
)

log = logging.getLogger(__name__)

BASELINE_STYLE = {"color": "tab:blue", "linewidth": 3.0, "zorder": 3}
OTHER_COLORS = (
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
    "tab:olive",
    "tab:cyan",
)


def _arrow(higher_is_better: bool) -> str:
    return "↑" if higher_is_better else "↓"


def _fmt(value: float) -> str:
    return "-" if pd.isna(value) else f"{value:.4g}"


def _save(fig: Figure, path: Path) -> Path:
    return replace_atomically(
        path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
    )


def _errors(std: pd.Series) -> np.ndarray:
    return std.fillna(0.0).to_numpy()


# --------------------------------------------------------------------------- Fig. 5 and 4c


def plot_fig5(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``fig5.png``: one panel per task, its primary metric against ε, a line per model.

    The single-task model of a panel's task is the thick blue baseline, as in the paper.
    """
    scores = table[table["eps"].notna()]
    if scores.empty:
        raise ReduceError("the multitask-attack table has no clean or attacked rows to draw")
    eps = sorted(scores["eps"].unique())
    where = {e: i for i, e in enumerate(eps)}
    tasks = list(dict.fromkeys(scores["task"]))
    multitask = [m for m in dict.fromkeys(scores["model"]) if len(m) > 1]
    colors = {m: OTHER_COLORS[i % len(OTHER_COLORS)] for i, m in enumerate(multitask)}
    ncols = min(3, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, task in zip(axes, tasks, strict=False):
        rows = scores[scores["task"] == task]
        for model, line in rows.groupby("model", sort=False):
            line = line.sort_values("eps")
            style = (
                BASELINE_STYLE if len(model) == 1 else {"color": colors[model], "linewidth": 1.5}
            )
            ax.errorbar(
                line["eps"].map(where),
                line["value"],
                yerr=_errors(line["value_std"]),
                marker="o",
                markersize=3,
                capsize=2,
                label=model,
                **style,
            )
        first = rows.iloc[0]
        ax.set_title(f"{task} {first['metric']} {_arrow(bool(first['higher_is_better']))}")
        ax.set_xticks(range(len(eps)), ["clean" if e == 0 else f"{e:g}" for e in eps])
        ax.set_xlabel("multitask PGD ε (pixel levels)")
        ax.legend(fontsize=7)
    for ax in axes[len(tasks) :]:
        ax.set_visible(False)
    fig.suptitle("Robustness under multitask attack (Fig. 5)")
    return [_save(fig, Path(out_dir) / "fig5.png")]


def plot_fig4c(table: pd.DataFrame, out_dir: Path) -> Path:
    """``fig4c.png``: the joint-gradient norm (vulnerability) of each model, tasks growing."""
    norms = joint_norms(table)
    if norms.empty:
        raise ReduceError(
            "the multitask-attack table has no joint-gradient norm rows; "
            "run the sweep with the grad_norm measure"
        )
    fig = Figure(figsize=(max(4.0, 0.8 * len(norms) + 2), 3.2), layout="constrained")
    ax = fig.subplots()
    ax.bar(
        norms["model"],
        norms["value"],
        yerr=_errors(norms["value_std"]),
        capsize=3,
        color="tab:blue",
    )
    ax.set_xlabel("tasks attacked together")
    ax.set_ylabel("L2 norm of the joint gradient ↓")
    ax.set_title("Adversarial vulnerability against the number of tasks (Fig. 4c)")
    return _save(fig, Path(out_dir) / "fig4c.png")


# --------------------------------------------------------------------------- Tables 1-3


@dataclass(frozen=True)
class Cell:
    text: str
    best: bool = False
    worse_than_baseline: bool = False


@dataclass(frozen=True)
class Grid:
    """One group of an attack table laid out as the paper prints it."""

    group_task: str
    metric: str
    higher_is_better: bool
    evals: list[str]
    models: list[str]
    cells: list[list[Cell]]
    baseline: str | None  # the single-task model of the group, if the sweep trained one

    @property
    def title(self) -> str:
        return f"{self.group_task}: {self.metric} {_arrow(self.higher_is_better)}"


def attack_table_grids(table: pd.DataFrame) -> list[Grid]:
    """The wide tables: every evaluation of the whole table as a row, "-" where a group has
    none (Houdini on depth), models as columns in the table's order (baseline first)."""
    evals = sorted(table["eval"].unique(), key=eval_order)
    grids = []
    for group, rows in table.groupby("group_task", sort=False):
        models = list(dict.fromkeys(rows["model"]))
        by_cell = {(r.eval, r.model): r for r in rows.itertuples(index=False)}
        cells = [[_cell(by_cell.get((e, m))) for m in models] for e in evals]
        first = rows.iloc[0]
        baselines = rows.loc[rows["is_baseline"].astype(bool), "model"]
        grids.append(
            Grid(
                group,
                first["metric"],
                bool(first["higher_is_better"]),
                evals,
                models,
                cells,
                baselines.iloc[0] if len(baselines) else None,
            )
        )
    return grids


def _cell(row) -> Cell:
    if row is None:
        return Cell("-")
    return Cell(_fmt(row.value), bool(row.best_in_row), bool(row.worse_than_baseline))


def attack_table_markdown(table: pd.DataFrame) -> str:
    """Tables 1-3 in Markdown: best in row **bold**, multitask worse than baseline <u>u</u>."""
    parts = []
    for grid in attack_table_grids(table):
        lines = [
            f"### {grid.title} "
            + (f"(baseline {grid.baseline})" if grid.baseline else "(no single-task baseline)"),
            "",
            "| eval | " + " | ".join(grid.models) + " |",
            "| --- |" + " ---: |" * len(grid.models),
        ]
        for name, row in zip(grid.evals, grid.cells, strict=True):
            lines.append(f"| {name} | " + " | ".join(_markdown(c) for c in row) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _markdown(cell: Cell) -> str:
    text = f"**{cell.text}**" if cell.best else cell.text
    return f"<u>{text}</u>" if cell.worse_than_baseline else text


def plot_attack_table(table: pd.DataFrame, out_dir: Path, name: str) -> Path:
    """``<name>.png``: the Markdown tables as a picture (bold best, red worse than baseline)."""
    grids = attack_table_grids(table)
    height = sum(0.3 * (len(g.evals) + 2) + 0.4 for g in grids)
    width = max(3.0 + 0.9 * len(g.models) for g in grids)
    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(len(grids), 1, squeeze=False).ravel()
    for ax, grid in zip(axes, grids, strict=True):
        ax.axis("off")
        ax.set_title(grid.title, fontsize=9)
        drawn = ax.table(
            cellText=[[c.text for c in row] for row in grid.cells],
            rowLabels=grid.evals,
            colLabels=grid.models,
            loc="center",
        )
        drawn.auto_set_font_size(False)
        drawn.set_fontsize(8)
        for i, row in enumerate(grid.cells, start=1):  # row 0 holds the column labels
            for j, cell in enumerate(row):
                text = drawn[i, j].get_text()
                text.set_fontweight("bold" if cell.best else "normal")
                text.set_color("tab:red" if cell.worse_than_baseline else "black")
    fig.suptitle("bold: best in row; red: multitask worse than baseline", fontsize=8)
    return _save(fig, Path(out_dir) / f"{name}.png")


# --------------------------------------------------------------------------- Fig. 4a-b


def plot_output_dim(table: pd.DataFrame, out_dir: Path) -> list[Path]:
    """``fig4a.png`` (gradient norm against k) and ``fig4b.png`` (accuracy under each attack)."""
    figures = [
        (
            "fig4a.png",
            table["metric"] == "grad_norm",
            "L2 norm of the gradient ↓",
            "Vulnerability against output dimensionality (Fig. 4a)",
        ),
        (
            "fig4b.png",
            table["metric"].str.endswith("_acc"),
            "pixel accuracy (%) ↑",
            "Accuracy under attack against output dimensionality (Fig. 4b)",
        ),
    ]
    several = table["task"].nunique() > 1
    paths = []
    for filename, chosen, ylabel, title in figures:
        rows = table[chosen]
        if rows.empty:
            log.warning("no rows for %s; it is not drawn", filename)
            continue
        fig = Figure(figsize=(5.0, 3.4), layout="constrained")
        ax = fig.subplots()
        for (task, metric), line in rows.groupby(["task", "metric"], sort=False):
            label = f"{task}: {metric}" if several else metric.removesuffix("_acc")
            ax.errorbar(
                line["k"],
                line["value"],
                yerr=_errors(line["value_std"]),
                marker="o",
                markersize=3,
                capsize=2,
                label=label,
            )
        ax.set_xscale("log")
        ax.set_xlabel("output pixels attacked (k)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
        paths.append(_save(fig, Path(out_dir) / filename))
    return paths


# --------------------------------------------------------------------------- the dispatcher


def _write_text(text: str, path: Path) -> Path:
    return replace_atomically(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_multitask_attack(
    trials: pd.DataFrame, dataset: str, table_path: Path, picture_dir: Path | None
) -> tuple[list[Path], str]:
    """Fig. 5 and 4c: the table, then ``fig5.png`` and ``fig4c.png`` in ``picture_dir``."""
    table = reduce_multitask_attack(trials, dataset)
    paths = [write_parquet(table, Path(table_path))]
    if picture_dir is not None:
        paths += plot_fig5(table, Path(picture_dir))
        if not joint_norms(table).empty:
            paths.append(plot_fig4c(table, Path(picture_dir)))
    return paths, multitask_attack_summary(table)


def write_attack_table(
    trials: pd.DataFrame, dataset: str, table_path: Path, picture_dir: Path | None
) -> tuple[list[Path], str]:
    """Tables 1-3: the table, its Markdown beside it, ``attack_table.png`` in ``picture_dir``."""
    table = reduce_attack_table(trials, dataset)
    table_path = Path(table_path)
    paths = [
        write_parquet(table, table_path),
        _write_text(attack_table_markdown(table), table_path.with_suffix(".md")),
    ]
    if picture_dir is not None:
        paths.append(plot_attack_table(table, Path(picture_dir), "attack_table"))
    return paths, attack_table_summary(table)


def write_output_dim(
    trials: pd.DataFrame, dataset: str, table_path: Path, picture_dir: Path | None
) -> tuple[list[Path], str]:
    """Fig. 4a-b: the table, then ``fig4a.png`` and ``fig4b.png`` in ``picture_dir``."""
    table = reduce_output_dim(trials, dataset)
    paths = [write_parquet(table, Path(table_path))]
    if picture_dir is not None:
        paths += plot_output_dim(table, Path(picture_dir))
    return paths, output_dim_summary(table)


Writer = Callable[[pd.DataFrame, str, Path, Path | None], tuple[list[Path], str]]
REDUCTIONS: dict[str, Writer] = {
    "multitask_attack": write_multitask_attack,
    "attack_table": write_attack_table,
    "output_dim": write_output_dim,
}
