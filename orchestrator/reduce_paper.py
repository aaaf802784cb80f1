"""Reductions of the paper's other experiments: Fig. 4a-c, Fig. 5 and Tables 1-3.

Each turns the long trials table (one row per logged metric) into a tidy long table, seeds
averaged, that its picture and its Markdown rendering read. Model labels are the paper's
letter strings ("sdA": main tasks first, then the auxiliary tasks in their given order),
and metric directions come from the task registry, so nothing here names a task.
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from attacks.evals import EvalSpec, parse_eval
from orchestrator.reduce import ReduceError, check_trials, over_seeds, primary_rows, task_of
from tasks.registry import tasks_of

log = logging.getLogger(__name__)

ATTACK_FAMILIES = ("fgsm", "pgd", "mim", "houdini")  # the paper's row order in Tables 1-3
VULNERABILITY = ("vulnerability", "joint", "grad_norm")  # (eval, task, metric) of Fig. 4c

_OUTDIM_RE = re.compile(r"^outdim_k(?P<k>\d+)$")


def attack_eval(name: str) -> EvalSpec | None:
    """The attack an evaluation name denotes (``pgd50_eps4_mt``), None for clean or other names."""
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
    family = (
        ATTACK_FAMILIES.index(parsed.attack)
        if parsed.attack in ATTACK_FAMILIES
        else len(ATTACK_FAMILIES)
    )
    return (1, family, parsed.attack, parsed.steps, parsed.eps, parsed.multitask)


# --------------------------------------------------------------------------- models


def _split(joined: object) -> list[str]:
    return [p for p in joined.split("+") if p] if isinstance(joined, str) else []


def model_tasks(main_task: str, aux_tasks: str) -> list[str]:
    """A model's trained tasks: its main tasks, then its auxiliary tasks, each once."""
    return list(dict.fromkeys(_split(main_task) + _split(aux_tasks)))


def model_label(dataset: str, main_task: str, aux_tasks: str) -> str:
    """The paper's name of a model: the letters of its tasks, main first ("sdA", "dAs")."""
    return "".join(task_of(dataset, n).letter for n in model_tasks(main_task, aux_tasks))


def label_order(dataset: str, label: str) -> tuple:
    """Sort key for model labels: fewer tasks first, then the registry's task order (sd < sA)."""
    letters = [t.letter for t in tasks_of(dataset)]
    return (len(label), tuple(letters.index(c) if c in letters else len(letters) for c in label))


# --------------------------------------------------------------------------- shared steps


def _with_models(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Adds each row's model label."""
    pairs = trials[["main_task", "aux_tasks"]].drop_duplicates()
    labels = {(m, a): model_label(dataset, m, a) for m, a in pairs.itertuples(index=False)}
    out = trials.copy()
    out["model"] = [labels[(m, a)] for m, a in zip(out["main_task"], out["aux_tasks"], strict=True)]
    return out


# --------------------------------------------------------------------------- Fig. 5 and 4c


def _is_mt_pgd(name: str) -> bool:
    parsed = attack_eval(name)
    return parsed is not None and parsed.attack == "pgd" and parsed.multitask


def reduce_multitask_attack(trials: pd.DataFrame, dataset: str = "taskonomy") -> pd.DataFrame:
    """Fig. 5 and Fig. 4c: every trained task's primary metric under clean and multitask PGD.

    Rows: model, eval, eps, task, metric, value, value_std, n_seeds, higher_is_better; the
    joint-gradient norm of each model is the row (eval "vulnerability", task "joint",
    metric "grad_norm", eps NaN).
    """
    rows = _with_models(check_trials(trials), dataset)
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
        primary_rows(attacked, dataset), ["model", "eval", "task", "metric", "higher_is_better"]
    )
    eval_, task, metric = VULNERABILITY
    vuln = rows[(rows["eval"] == eval_) & (rows["task"] == task) & (rows["metric"] == metric)]
    if vuln.empty:
        log.warning("no %s/%s/%s rows: Fig. 4c cannot be drawn", eval_, task, metric)
    norms = over_seeds(vuln, ["model", "eval", "task", "metric"]).assign(higher_is_better=False)
    table = pd.concat([scores, norms], ignore_index=True)
    table["eps"] = table["eval"].map(eval_eps)
    table["_order"] = table["model"].map(lambda m: label_order(dataset, m))
    table = table.sort_values(["_order", "task", "eps"], kind="stable").drop(columns="_order")
    columns = [
        "model",
        "eval",
        "eps",
        "task",
        "metric",
        "value",
        "value_std",
        "n_seeds",
        "higher_is_better",
    ]
    return table[columns].reset_index(drop=True)


def joint_norms(table: pd.DataFrame) -> pd.DataFrame:
    """The joint-gradient-norm rows of a multitask-attack table, models in the table's order."""
    eval_, task, metric = VULNERABILITY
    return table[(table["eval"] == eval_) & (table["task"] == task) & (table["metric"] == metric)]


def multitask_attack_summary(table: pd.DataFrame) -> str:
    """One line on Fig. 4c: how the joint-gradient norm moves as tasks are added."""
    norms = joint_norms(table)
    if norms.empty:
        return f"{table['model'].nunique()} models reduced; no joint-gradient norm was logged"
    by_model = norms.set_index("model")["value"]
    chain = nested_chain(list(by_model.index))
    values = by_model[chain].to_numpy()
    falls = int(np.sum(np.diff(values) < 0))
    return (
        f"joint-gradient norm {'→'.join(chain)}: {values[0]:.3g} → {values[-1]:.3g} "
        f"(falls at {falls} of {len(values) - 1} added tasks)"
    )


def nested_chain(models: list[str]) -> list[str]:
    """The models that grow one task at a time towards the largest (s, sd, sdn, …)."""
    largest = max(models, key=len)
    return sorted({m for m in models if largest.startswith(m)}, key=len)


# --------------------------------------------------------------------------- Tables 1-3


def reduce_attack_table(trials: pd.DataFrame, dataset: str = "cityscapes") -> pd.DataFrame:
    """Tables 1-3: each main task's primary metric per evaluation and model, seeds averaged.

    A model belongs to the group of every task in its ``main_task`` (one for main/auxiliary
    models, all of them for equal-weight multitask models), reported on that task. Rows:
    group_task, eval, model, metric, higher_is_better, value, value_std, n_seeds,
    is_baseline, best_in_row, worse_than_baseline (the paper's underline).
    """
    rows = _with_models(check_trials(trials), dataset)
    named = rows["eval"].eq("clean") | rows["eval"].map(lambda e: attack_eval(e) is not None)
    in_main = np.array(
        [t in _split(m) for t, m in zip(rows["task"], rows["main_task"], strict=True)]
    )
    rows = rows[named & in_main]
    if rows.empty:
        raise ReduceError(
            "trials table has no `clean` or `<attack><steps>_eps<ε>` rows on a "
            "main task; reduce a cityscapes attack sweep"
        )
    rows = primary_rows(rows, dataset).rename(columns={"task": "group_task"})
    table = over_seeds(rows, ["group_task", "eval", "model", "metric", "higher_is_better"])
    table["is_baseline"] = [
        m == task_of(dataset, g).letter
        for g, m in zip(table["group_task"], table["model"], strict=True)
    ]
    table = _mark_cells(table)
    registry = [t.name for t in tasks_of(dataset)]
    table["_g"] = table["group_task"].map(registry.index)
    table["_e"] = table["eval"].map(eval_order)
    table["_m"] = table["model"].map(lambda m: label_order(dataset, m))
    table = table.sort_values(["_g", "_m", "_e"], kind="stable").drop(columns=["_g", "_e", "_m"])
    columns = [
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
    return table[columns].reset_index(drop=True)


def _scores(table: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each cell's value and its row's baseline value, signed so that higher is better."""
    sign = np.where(table["higher_is_better"].astype(bool), 1.0, -1.0)
    score = table["value"].astype(float) * sign
    base = (
        score.where(table["is_baseline"])
        .groupby([table["group_task"], table["eval"]])
        .transform("max")
    )
    return score, base


def _mark_cells(table: pd.DataFrame) -> pd.DataFrame:
    """Flags each row's best cell and the multitask cells worse than their row's baseline."""
    score, base = _scores(table)
    best = score.groupby([table["group_task"], table["eval"]]).transform("max")
    out = table.copy()
    out["best_in_row"] = (score == best) & score.notna()
    out["worse_than_baseline"] = ~out["is_baseline"] & (score < base)
    return out


def attack_table_summary(table: pd.DataFrame) -> str:
    """One line on Tables 1-3: attacked cells where a multitask model beats its baseline."""
    score, base = _scores(table)
    cells = ~table["is_baseline"] & (table["eval"] != "clean") & score.notna() & base.notna()
    wins = int((score[cells] > base[cells]).sum())
    return f"multitask models beat the baseline in {wins} of {int(cells.sum())} attacked cells"


# --------------------------------------------------------------------------- Fig. 4a-b


def reduce_output_dim(trials: pd.DataFrame, dataset: str = "cityscapes") -> pd.DataFrame:
    """Fig. 4a-b: gradient norm and accuracy under attack against the number k of output pixels.

    Rows: k, task, metric, value, value_std, n_seeds, sorted by k then metric.
    """
    rows = check_trials(trials)
    k = rows["eval"].str.extract(_OUTDIM_RE, expand=False)
    rows = rows.assign(k=pd.to_numeric(k, errors="coerce")).dropna(subset=["k"])
    if rows.empty:
        raise ReduceError(
            "trials table has no `outdim_k<k>` rows; reduce an output-dimensionality sweep"
        )
    for name in rows["task"].unique():
        task_of(dataset, name)
    rows["k"] = rows["k"].astype(int)
    table = over_seeds(rows, ["k", "task", "metric"])
    return table.sort_values(["k", "metric"], kind="stable").reset_index(drop=True)


def output_dim_summary(table: pd.DataFrame) -> str:
    """One line on Fig. 4a: the gradient norm at the smallest and largest k."""
    norms = table[table["metric"] == "grad_norm"]
    if norms.empty:
        return f"{table['k'].nunique()} output sizes reduced; no gradient norm was logged"
    first, last = norms.iloc[0], norms.iloc[-1]
    return f"grad norm k={first['k']}→{last['k']}: {first['value']:.3g} → {last['value']:.3g}"
