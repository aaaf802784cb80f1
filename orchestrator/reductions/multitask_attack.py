"""Fig. 5 and Fig. 4c: every trained task's primary metric, clean and under multitask PGD
of growing ε, per model; and each model's joint-gradient norm (the ``grad_norm`` measure),
which Theorem 1 says falls as tasks are added.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from attacks.measures import GRAD_NORM, JOINT, VULNERABILITY
from orchestrator.reductions.naming import (
    arrow,
    attack_eval,
    eval_eps,
    model_tasks,
    with_models,
)
from orchestrator.reductions.table import (
    MODEL_COLUMNS,
    ReduceError,
    check_trials,
    over_seeds,
    picture_path,
    primary_rows,
)

COLUMNS = [
    "model",
    *MODEL_COLUMNS,
    "n_tasks",
    "eval",
    "eps",
    "task",
    "metric",
    "value",
    "value_std",
    "n_seeds",
    "higher_is_better",
]
_MODEL_KEYS = ["model", *MODEL_COLUMNS, "n_tasks"]


def _is_mt_pgd(name: str) -> bool:
    parsed = attack_eval(name)
    return (
        parsed is not None
        and parsed.attack == "pgd"
        and parsed.multitask
        and parsed.combiner == "sum"
    )


def _is_joint_norm(table: pd.DataFrame) -> pd.Series:
    return (
        (table["eval"] == VULNERABILITY) & (table["task"] == JOINT) & (table["metric"] == GRAD_NORM)
    )


def reduce(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Per model (full identity), eval and trained task: the primary metric, seeds averaged;
    plus the model's joint-gradient norm as the row (``vulnerability``, ``joint``,
    ``grad_norm``, eps NaN). Models in the paper's order, then task, then ε."""
    rows, models = with_models(check_trials(trials), dataset)
    attacked = rows[(rows["eval"] == "clean") | rows["eval"].map(_is_mt_pgd)]
    trained = [
        t in model_tasks(m, a)
        for t, m, a in zip(
            attacked["task"], attacked["main_task"], attacked["aux_tasks"], strict=True
        )
    ]
    attacked = attacked[trained]
    if attacked.empty:
        raise ReduceError(
            "trials table has no `clean` or `pgd<steps>_eps<ε>_mt` rows on a "
            "trained task; reduce a taskonomy-multitask-attack sweep"
        )
    scores = over_seeds(
        primary_rows(attacked, dataset),
        [*_MODEL_KEYS, "eval", "task", "metric", "higher_is_better"],
    )
    norms = over_seeds(rows[_is_joint_norm(rows)], [*_MODEL_KEYS, "eval", "task", "metric"])
    table = pd.concat([scores, norms.assign(higher_is_better=False)], ignore_index=True)
    table["eps"] = table["eval"].map(eval_eps)
    rank = {label: i for i, label in enumerate(models["model"])}
    table["_order"] = table["model"].map(rank)
    table = table.sort_values(["_order", "task", "eps"], kind="stable")
    return table[COLUMNS].reset_index(drop=True)


def joint_norms(table: pd.DataFrame) -> pd.DataFrame:
    """The joint-gradient-norm rows of a multitask-attack table, models in the table's order."""
    return table[_is_joint_norm(table)]


def nested_chain(norms: pd.DataFrame) -> list[str]:
    """The models that grow one task at a time towards the largest (s, sd, sdn, …): same
    architecture, each one's tasks a prefix of the largest one's."""
    tasks = [
        tuple(model_tasks(m, a))
        for m, a in zip(norms["main_task"], norms["aux_tasks"], strict=True)
    ]
    largest = int(np.argmax([len(t) for t in tasks]))
    arch, full = norms["arch"].iloc[largest], tasks[largest]
    chain: dict[int, str] = {}
    for model, model_arch, own in zip(norms["model"], norms["arch"], tasks, strict=True):
        if model_arch == arch and full[: len(own)] == own:
            chain.setdefault(len(own), model)
    return [chain[n] for n in sorted(chain)]


def summary(table: pd.DataFrame) -> str:
    """One line on Fig. 4c: how the joint-gradient norm moves as tasks are added."""
    norms = joint_norms(table)
    if norms.empty:
        return f"{table['model'].nunique()} models reduced; no joint-gradient norm was logged"
    chain = nested_chain(norms)
    values = norms.set_index("model")["value"][chain].to_numpy()
    falls = int(np.sum(np.diff(values) < 0))
    return (
        f"joint-gradient norm {'→'.join(chain)}: {values[0]:.3g} → {values[-1]:.3g} "
        f"(falls at {falls} of {len(values) - 1} added tasks)"
    )


# --------------------------------------------------------------------------- draw


def _draw_fig5(table: pd.DataFrame, path: Path) -> Path:
    """One panel per task, its primary metric against ε, a line per model; the single-task
    model is the thick blue baseline, as in the paper."""
    from orchestrator.reductions.plotting import (
        BASELINE_STYLE,
        OTHER_COLORS,
        error_bars,
        figure,
        save,
    )

    scores = table[table["eps"].notna()]
    eps = sorted(scores["eps"].unique())
    where = {e: i for i, e in enumerate(eps)}
    tasks = list(dict.fromkeys(scores["task"]))
    multitask = list(dict.fromkeys(scores.loc[scores["n_tasks"] > 1, "model"]))
    colors = {m: OTHER_COLORS[i % len(OTHER_COLORS)] for i, m in enumerate(multitask)}
    ncols = min(3, len(tasks))
    nrows = math.ceil(len(tasks) / ncols)
    fig = figure(4.2 * ncols, 3.2 * nrows)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, task in zip(axes, tasks, strict=False):
        rows = scores[scores["task"] == task]
        for model, line in rows.groupby("model", sort=False):
            line = line.sort_values("eps")
            style = (
                BASELINE_STYLE
                if model not in colors
                else {"color": colors[model], "linewidth": 1.5}
            )
            ax.errorbar(
                line["eps"].map(where),
                line["value"],
                yerr=error_bars(line["value_std"]),
                marker="o",
                markersize=3,
                capsize=2,
                label=model,
                **style,
            )
        first = rows.iloc[0]
        ax.set_title(f"{task} {first['metric']} {arrow(bool(first['higher_is_better']))}")
        ax.set_xticks(range(len(eps)), ["clean" if e == 0 else f"{e:g}" for e in eps])
        ax.set_xlabel("multitask PGD ε (pixel levels)")
        ax.legend(fontsize=7)
    for ax in axes[len(tasks) :]:
        ax.set_visible(False)
    fig.suptitle("Robustness under multitask attack (Fig. 5)")
    return save(fig, path)


def _draw_fig4c(norms: pd.DataFrame, path: Path) -> Path:
    """The joint-gradient norm (vulnerability) of each model, tasks growing."""
    from orchestrator.reductions.plotting import error_bars, figure, save

    fig = figure(max(4.0, 0.8 * len(norms) + 2), 3.2)
    ax = fig.subplots()
    ax.bar(
        norms["model"],
        norms["value"],
        yerr=error_bars(norms["value_std"]),
        capsize=3,
        color="tab:blue",
    )
    ax.set_xlabel("tasks attacked together")
    ax.set_ylabel("L2 norm of the joint gradient ↓")
    ax.set_title("Adversarial vulnerability against the number of tasks (Fig. 4c)")
    return save(fig, path)


def draw(table: pd.DataFrame, out_dir: Path, fmt: str = "png") -> list[Path]:
    """``fig5.<fmt>``, and ``fig4c.<fmt>`` when the joint-gradient norm was measured."""
    if table["eps"].notna().sum() == 0:
        raise ReduceError("the multitask-attack table has no clean or attacked rows to draw")
    paths = [_draw_fig5(table, picture_path(out_dir, "fig5", fmt))]
    norms = joint_norms(table)
    if not norms.empty:
        paths.append(_draw_fig4c(norms, picture_path(out_dir, "fig4c", fmt)))
    return paths
