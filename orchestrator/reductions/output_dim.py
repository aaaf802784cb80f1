"""Fig. 4a–b: output dimensionality as multitask learning. The gradient norm, and the pixel
accuracy under each attack, when only k random output pixels count (the ``output_dim``
measure), against k.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from attacks.measures import GRAD_NORM, parse_outdim_acc, parse_outdim_eval
from orchestrator.reductions.naming import with_models
from orchestrator.reductions.table import (
    MODEL_COLUMNS,
    ReduceError,
    check_trials,
    over_seeds,
    picture_path,
    task_of,
)

COLUMNS = ["model", "k", "task", "metric", "value", "value_std", "n_seeds"]


def reduce(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Per model, k, task and metric: the seed mean; models in the paper's order, then k."""
    rows, models = with_models(check_trials(trials), dataset)
    rows = rows.assign(k=rows["eval"].map(parse_outdim_eval)).dropna(subset=["k"])
    if rows.empty:
        raise ReduceError(
            "trials table has no `outdim_k<k>` rows; reduce an output-dimensionality sweep"
        )
    for name in rows["task"].unique():
        task_of(dataset, name)
    rows["k"] = rows["k"].astype(int)
    table = over_seeds(rows, ["model", *MODEL_COLUMNS, "k", "task", "metric"])
    rank = {label: i for i, label in enumerate(models["model"])}
    table = table.assign(_order=table["model"].map(rank))
    table = table.sort_values(["_order", "k", "metric"], kind="stable")
    return table[COLUMNS].reset_index(drop=True)


def summary(table: pd.DataFrame) -> str:
    """One line on Fig. 4a: each model's gradient norm at the smallest and largest k."""
    norms = table[table["metric"] == GRAD_NORM]
    if norms.empty:
        return f"{table['k'].nunique()} output sizes reduced; no gradient norm was logged"
    several = norms["model"].nunique() > 1
    parts = []
    for model, rows in norms.groupby("model", sort=False):
        first, last = rows.iloc[0], rows.iloc[-1]
        parts.append(
            (f"{model}: " if several else "")
            + f"grad norm k={first['k']}→{last['k']}: {first['value']:.3g} → {last['value']:.3g}"
        )
    return "; ".join(parts)


def draw(table: pd.DataFrame, out_dir: Path, fmt: str = "png") -> list[Path]:
    """``fig4a.<fmt>`` (gradient norm against k) and ``fig4b.<fmt>`` (accuracy under each
    attack); a figure without rows is not drawn."""
    from orchestrator.reductions.plotting import error_bars, figure, save

    attack = table["metric"].map(parse_outdim_acc)
    figures = [
        ("fig4a", table["metric"] == GRAD_NORM, "L2 norm of the gradient ↓", "Fig. 4a"),
        ("fig4b", attack.notna(), "pixel accuracy (%) ↑", "Fig. 4b"),
    ]
    several = table[["model", "task"]].drop_duplicates().shape[0] > 1
    paths = []
    for stem, chosen, ylabel, figure_name in figures:
        path = picture_path(out_dir, stem, fmt)
        rows = table[chosen]
        if rows.empty:
            continue
        fig = figure(5.0, 3.4)
        ax = fig.subplots()
        for (model, task, metric), line in rows.groupby(["model", "task", "metric"], sort=False):
            label = f"{model} {task}: {metric}" if several else parse_outdim_acc(metric) or metric
            ax.errorbar(
                line["k"],
                line["value"],
                yerr=error_bars(line["value_std"]),
                marker="o",
                markersize=3,
                capsize=2,
                label=label,
            )
        ax.set_xscale("log")
        ax.set_xlabel("output pixels attacked (k)")
        ax.set_ylabel(ylabel)
        ax.set_title(f"Vulnerability against output dimensionality ({figure_name})", fontsize=9)
        ax.legend(fontsize=7)
        paths.append(save(fig, path))
    return paths
