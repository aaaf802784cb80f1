"""How reductions name and order things: evaluations, tasks and models.

Model labels are the paper's letter strings ("sdA": main tasks first, then the auxiliary
tasks in their given order). Where two models of one table share their letters (they differ
in λ or architecture), the label grows just enough to tell them apart ("sd λ=0.1").
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import pandas as pd

from attacks.eval_names import EvalSpec, attack_order, parse_eval
from orchestrator.reductions.table import MODEL_COLUMNS, task_of
from tasks.registry import tasks_of

# The paper's row and column order in Fig. 7 (a) and (b).
FIG7_ORDER = (
    "segment_semantic",
    "depth_zbuffer",
    "edge_texture",
    "normal",
    "reshading",
    "keypoints2d",
    "keypoints3d",
    "depth_euclidean",
    "autoencoder",
    "edge_occlusion",
    "principal_curvature",
)


# --------------------------------------------------------------------------- evaluations


def attack_eval(name: str) -> EvalSpec | None:
    """The attack an evaluation name denotes (``pgd50_eps4_mt``); None for clean or others."""
    try:
        spec = parse_eval(name)
    except ValueError:
        return None
    return None if spec.is_clean else spec


def eval_eps(name: str) -> float:
    """ε in pixel levels of an evaluation: 0 for ``clean``, NaN for names without one."""
    if name == "clean":
        return 0.0
    parsed = attack_eval(name)
    return parsed.eps if parsed else float("nan")


def eval_order(name: str) -> tuple:
    """Sort key for table rows: clean, then FGSM, PGD, MIM, Houdini (others after), by steps."""
    if name == "clean":
        return (0,)
    parsed = attack_eval(name)
    if parsed is None:
        return (3, name)
    return (1, attack_order(parsed.attack), parsed.steps, parsed.eps, parsed.multitask)


# --------------------------------------------------------------------------- tasks


def arrow(higher_is_better: bool) -> str:
    """The direction mark after a metric's name."""
    return "↑" if higher_is_better else "↓"


def task_order(names: Iterable[str]) -> list[str]:
    """The paper's Fig. 7 order (every Taskonomy task), then any other name alphabetically."""
    rank = {name: i for i, name in enumerate(FIG7_ORDER)}
    return sorted(set(names), key=lambda n: (rank.get(n, len(rank)), n))


def split_tasks(joined: object) -> list[str]:
    """``"a+b"`` → ``["a", "b"]``; ``""`` or a missing value → ``[]``."""
    return [p for p in joined.split("+") if p] if isinstance(joined, str) else []


def model_tasks(main_task: str, aux_tasks: str) -> list[str]:
    """A model's trained tasks: its main tasks, then its auxiliary tasks, each once."""
    return list(dict.fromkeys(split_tasks(main_task) + split_tasks(aux_tasks)))


def model_label(dataset: str, main_task: str, aux_tasks: str) -> str:
    """The paper's name of a model: the letters of its tasks, main first ("sdA", "dAs")."""
    return "".join(task_of(dataset, n).letter for n in model_tasks(main_task, aux_tasks))


# --------------------------------------------------------------------------- models


def _number(value: float) -> str:
    return f"{value:g}"


def weights_text(dataset: str, main_task: str, aux_tasks: str, weights: str) -> str:
    """``λ=0.1`` (the auxiliary weight, per task if they differ), ``w=s:0.5,d:0.5`` for a
    model without auxiliary tasks, ``""`` when the weights are unknown."""
    if not weights:
        return ""
    by_task = json.loads(weights)
    aux = split_tasks(aux_tasks)
    shown = aux or model_tasks(main_task, aux_tasks)
    values = [by_task.get(t, float("nan")) for t in shown]
    if aux and len(set(values)) == 1:
        return f"λ={_number(values[0])}"
    parts = ",".join(
        f"{task_of(dataset, t).letter}:{_number(v)}" for t, v in zip(shown, values, strict=True)
    )
    return f"{'λ' if aux else 'w'}={parts}"


def _model_order(dataset: str, model: pd.Series) -> tuple:
    """Fewer tasks first, then the registry's task order (sd < sA), then architecture and λ."""
    names = [t.name for t in tasks_of(dataset)]
    tasks = model_tasks(model["main_task"], model["aux_tasks"])
    ranks = tuple(names.index(t) if t in names else len(names) for t in tasks)
    return (len(tasks), ranks, model["arch"], model["weights"])


def models_of(rows: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The distinct models (MODEL_COLUMNS) of a checked trials table in the paper's order,
    with ``n_tasks`` and ``model``, a display label unique within the table."""
    models = rows.loc[:, list(MODEL_COLUMNS)].drop_duplicates().reset_index(drop=True)
    order = sorted(models.index, key=lambda i: _model_order(dataset, models.loc[i]))
    models = models.loc[order].reset_index(drop=True)
    models["n_tasks"] = [
        len(model_tasks(m, a))
        for m, a in zip(models["main_task"], models["aux_tasks"], strict=True)
    ]
    labels = pd.Series(
        [
            model_label(dataset, m, a)
            for m, a in zip(models["main_task"], models["aux_tasks"], strict=True)
        ]
    )
    details = (
        pd.Series(
            [
                weights_text(dataset, *m)
                for m in models[["main_task", "aux_tasks", "weights"]].itertuples(index=False)
            ]
        ),
        models["arch"].map(lambda arch: f"[{arch}]" if arch else ""),
    )
    for detail in details:  # add a detail only where it tells same-named models apart
        differs = detail.groupby(labels).transform("nunique") > 1
        labels = labels.where(~differs, (labels + " " + detail).str.rstrip())
    clash = labels.duplicated(keep=False)  # same letters, weights unknown: say which is which
    labels[clash] = (
        labels[clash] + " #" + (labels[clash].groupby(labels[clash]).cumcount() + 1).astype(str)
    )
    models["model"] = labels
    return models


def with_models(rows: pd.DataFrame, dataset: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows with their model's ``model`` label and ``n_tasks``, and ``models_of(rows)``."""
    models = models_of(rows, dataset)
    return rows.merge(models, on=list(MODEL_COLUMNS), how="left", validate="many_to_one"), models
