"""Tables 1–3: each main task's primary metric per evaluation (clean, FGSM, PGD, MIM,
Houdini; single-task or multitask attacks) and model, seeds averaged, laid out as the paper
prints them: best in row bold, multitask models worse than the single-task baseline
underlined. ``draw`` writes the tables as a picture, Markdown and LaTeX (booktabs).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from orchestrator.reductions.naming import (
    arrow,
    attack_eval,
    eval_order,
    split_tasks,
    with_models,
)
from orchestrator.reductions.table import (
    MODEL_COLUMNS,
    ReduceError,
    check_trials,
    latex_escape,
    over_seeds,
    picture_path,
    primary_rows,
    write_text,
)
from tasks.registry import tasks_of

COLUMNS = [
    "arch",
    "group_task",
    "eval",
    "model",
    "metric",
    "higher_is_better",
    "value",
    "value_std",
    "n_seeds",
    "is_baseline",
    "best_in_row",
    "worse_than_baseline",
]
_ROW = ["arch", "group_task", "eval"]  # one row of a printed table: cells compared within it
_STEM = "attack_table"


def reduce(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Per (arch, group task, eval, model): the group task's primary metric, seeds averaged.

    A model belongs to the group of every task in its ``main_task`` (one for main/auxiliary
    models, all of them for equal-weight multitask models), reported on that task; its
    baseline is the single-task model of that task and architecture.
    """
    rows, models = with_models(check_trials(trials), dataset)
    named = rows["eval"].eq("clean") | rows["eval"].map(lambda e: attack_eval(e) is not None)
    in_main = np.array(
        [t in split_tasks(m) for t, m in zip(rows["task"], rows["main_task"], strict=True)]
    )
    rows = rows[named & in_main]
    if rows.empty:
        raise ReduceError(
            "trials table has no `clean` or `<attack><steps>_eps<ε>` rows on a "
            "main task; reduce a cityscapes attack sweep"
        )
    rows = primary_rows(rows, dataset).rename(columns={"task": "group_task"})
    keys = ["group_task", "eval", "model", *MODEL_COLUMNS, "n_tasks", "metric", "higher_is_better"]
    table = over_seeds(rows, keys)
    table["is_baseline"] = table["n_tasks"] == 1
    table = _mark_cells(table)
    registry = [t.name for t in tasks_of(dataset)]
    rank = {label: i for i, label in enumerate(models["model"])}
    table = table.assign(
        _g=table["group_task"].map(registry.index),
        _m=table["model"].map(rank),
        _e=table["eval"].map(eval_order),
    )
    table = table.sort_values(["_g", "arch", "_m", "_e"], kind="stable")
    return table[COLUMNS].reset_index(drop=True)


def _scores(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each cell's value and its row's baseline value, signed so that higher is better."""
    sign = np.where(table["higher_is_better"].astype(bool), 1.0, -1.0)
    score = table["value"].astype(float) * sign
    row = [table[c] for c in _ROW]
    return score, score.where(table["is_baseline"]).groupby(row).transform("max")


def _mark_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Flags each row's best cell and the multitask cells worse than their row's baseline."""
    score, base = _scores(table)
    best = score.groupby([table[c] for c in _ROW]).transform("max")
    return table.assign(
        best_in_row=(score == best) & score.notna(),
        worse_than_baseline=~table["is_baseline"] & (score < base),
    )


def summary(table: pd.DataFrame) -> str:
    """One line on Tables 1–3: attacked cells where a multitask model beats its baseline."""
    score, base = _scores(table)
    cells = ~table["is_baseline"] & (table["eval"] != "clean") & score.notna() & base.notna()
    wins = int((score[cells] > base[cells]).sum())
    return f"multitask models beat the baseline in {wins} of {int(cells.sum())} attacked cells"


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Cell:
    text: str
    best: bool = False
    worse_than_baseline: bool = False


@dataclass(frozen=True)
class Grid:
    """One group of an attack table laid out as the paper prints it."""

    title: str
    baseline: str | None  # the single-task model of the group, if the sweep trained one
    evals: list[str]
    models: list[str]
    cells: list[list[Cell]]


def _cell(row: object | None) -> Cell:
    if row is None:
        return Cell("-")
    text = "-" if pd.isna(row.value) else f"{row.value:.4g}"
    return Cell(text, bool(row.best_in_row), bool(row.worse_than_baseline))


def grids(table: pd.DataFrame) -> list[Grid]:
    """The wide tables, one per (group task, arch): every evaluation of the whole table as a
    row, "-" where a group has none (Houdini on depth), models as columns in table order."""
    evals = sorted(table["eval"].unique(), key=eval_order)
    several_archs = table["arch"].nunique() > 1
    out = []
    for (group, arch), rows in table.groupby(["group_task", "arch"], sort=False):
        models = list(dict.fromkeys(rows["model"]))
        by_cell = {(r.eval, r.model): r for r in rows.itertuples(index=False)}
        first = rows.iloc[0]
        title = f"{group}: {first['metric']} {arrow(bool(first['higher_is_better']))}"
        baselines = rows.loc[rows["is_baseline"], "model"]
        out.append(
            Grid(
                title + (f" [{arch}]" if several_archs and arch else ""),
                baselines.iloc[0] if len(baselines) else None,
                evals,
                models,
                [[_cell(by_cell.get((e, m))) for m in models] for e in evals],
            )
        )
    return out


# --------------------------------------------------------------------------- text


def markdown(table: pd.DataFrame) -> str:
    """Tables 1–3 in Markdown: best in row **bold**, multitask worse than baseline <u>u</u>."""
    parts = []
    for grid in grids(table):
        baseline = f"(baseline {grid.baseline})" if grid.baseline else "(no single-task baseline)"
        lines = [
            f"### {grid.title} {baseline}",
            "",
            "| eval | " + " | ".join(grid.models) + " |",
            "| --- |" + " ---: |" * len(grid.models),
        ]
        for name, row in zip(grid.evals, grid.cells, strict=True):
            lines.append(f"| {name} | " + " | ".join(_markdown_cell(c) for c in row) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _markdown_cell(cell: Cell) -> str:
    text = f"**{cell.text}**" if cell.best else cell.text
    return f"<u>{text}</u>" if cell.worse_than_baseline else text


def _latex_cell(cell: Cell) -> str:
    text = latex_escape(cell.text)
    text = rf"\textbf{{{text}}}" if cell.best else text
    return rf"\underline{{{text}}}" if cell.worse_than_baseline else text


def latex(table: pd.DataFrame) -> str:
    """Tables 1–3 as LaTeX ``booktabs`` tabulars (``\\usepackage{booktabs}``), one per group:
    best in row bold, multitask worse than baseline underlined."""
    parts = []
    for grid in grids(table):
        header = " & ".join(["eval", *(latex_escape(m) for m in grid.models)])
        body = [
            " & ".join([latex_escape(name), *(_latex_cell(c) for c in row)]) + r" \\"
            for name, row in zip(grid.evals, grid.cells, strict=True)
        ]
        parts.append(
            "\n".join(
                [
                    f"% {latex_escape(grid.title)}",
                    r"\begin{tabular}{l" + "r" * len(grid.models) + "}",
                    r"\toprule",
                    header + r" \\",
                    r"\midrule",
                    *body,
                    r"\bottomrule",
                    r"\end{tabular}",
                ]
            )
        )
    return "\n\n".join(parts) + "\n"


# --------------------------------------------------------------------------- draw


def draw(table: pd.DataFrame, out_dir: Path, fmt: str = "png") -> list[Path]:
    """``attack_table.<fmt>`` (bold best, red worse than baseline), ``attack_table.md`` and
    ``attack_table.tex``."""
    from orchestrator.reductions.plotting import figure, save

    path = picture_path(out_dir, _STEM, fmt)
    layout = grids(table)
    height = sum(0.3 * (len(g.evals) + 2) + 0.4 for g in layout)
    fig = figure(max(3.0 + 0.9 * len(g.models) for g in layout), height)
    axes = fig.subplots(len(layout), 1, squeeze=False).ravel()
    for ax, grid in zip(axes, layout, strict=True):
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
    out_dir = Path(out_dir)
    return [
        save(fig, path),
        write_text(markdown(table), out_dir / f"{_STEM}.md"),
        write_text(latex(table), out_dir / f"{_STEM}.tex"),
    ]
