"""Does Fig. 7 survive stronger attacks? Fig. 7's relative improvement of every
main/auxiliary cell, with its seed interval, under each evaluation, ordered by attack
family and strength (steps); and, where the ``task_grad_l1`` (or ``grad_norm``) measure
was logged, how the main task's input-gradient norm of each pair compares with its
baseline's.

Ghamizi et al. (AAAI 2022) find the multitask gain fragile: it depends on the encoder and
fades as attacks get more steps, and it goes with task weight × gradient norm rather than
with the number of tasks. ``summary`` tells it in one line per encoder ("pgd10: improved
14/20 → pgd200: 9/20 → apgd100: 6/20"); ``draw`` plots cells improved and mean improvement
against steps (one line per attack family and encoder) beside the gradient norms, draws
Fig. 7's heatmap for every evaluation, and writes the lines as Markdown and LaTeX.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from attacks.eval_names import CLEAN, attack_order
from attacks.measures import GRAD_NORM, VULNERABILITY
from attacks.task_gradients import TASK_GRAD_L1
from orchestrator.reductions import fig7
from orchestrator.reductions.naming import attack_eval, split_tasks, task_order
from orchestrator.reductions.table import (
    RESULT_COLUMNS,
    ReduceError,
    check_trials,
    latex_escape,
    picture_path,
    seed_means,
    selection_split,
    write_text,
)

# What a row is: a cell under an evaluation (clean or attacked), or the main task's
# input-gradient norm of a model against its baseline's (improvement: the norm shrank).
ATTACK, GRADIENT = "attack", "grad_norm"
COLUMNS = [*RESULT_COLUMNS, "kind", "family", "steps", "eps"]
LINE_COLUMNS = [
    "arch",
    "eval",
    "family",
    "steps",
    "eps",
    "improved",
    "total",
    "missing",
    "mean_rel_improvement_pct",
    "significant",
    "ci_low",
    "ci_high",
]
_STEM = "attack_strength"
_EPS = re.compile(r"_eps[0-9.]+")


# --------------------------------------------------------------------------- names


def strength(name: str) -> tuple[str, int, float] | None:
    """(family, steps, ε) of an evaluation: ``("clean", 0, 0.0)``, ``("pgd", 50, 4.0)``;
    a joint attack's family names its combiner (``pgd_mt``, ``pgd_mt_dgba``), a worst case's
    its members' families (``worst_pgd-apgd``, steps theirs summed); None for a name that
    is not an evaluation."""
    if name == CLEAN:
        return CLEAN, 0, 0.0
    spec = attack_eval(name)
    if spec is None:
        return None
    if spec.is_worst:
        members = (strength(m) for m in spec.members)
        return "worst_" + "-".join(m[0] for m in members if m), spec.steps, spec.eps
    return spec.attack + _EPS.split(name, maxsplit=1)[1], spec.steps, spec.eps


def strength_order(name: str) -> tuple:
    """Clean first, then single-task attack families in the registry's order (the worst
    cases last), then joint ones, each by steps and ε; names that are not evaluations last."""
    spec = attack_eval(name)
    if name == CLEAN:
        return (0,)
    if spec is None:
        return (2, name)
    return (1, spec.multitask, attack_order(spec.attack), spec.steps, spec.eps, name)


# --------------------------------------------------------------------------- reduce


def _with_strength(table: pd.DataFrame, kind: str, points: Iterable[str | None]) -> pd.DataFrame:
    """The table with ``kind`` and the (family, steps, ε) of each row's evaluation point."""
    parts = [strength(p) or (None, math.nan, math.nan) for p in points]
    family, steps, eps = zip(*parts, strict=True) if parts else ((), (), ())
    return table.assign(
        kind=kind, family=list(family), steps=list(steps), eps=list(eps), _point=list(points)
    )


def gradient_point(eval_: str, metric: str) -> str | None:
    """Where a logged gradient norm was taken: ``task_grad_l1/<task>/<point>`` at the clean
    image or an attack's end point, ``vulnerability/<task>/grad_norm`` (``grad_norm``) at
    the clean image; None for any other metric."""
    if eval_ == TASK_GRAD_L1:
        return metric
    if (eval_, metric) == (VULNERABILITY, GRAD_NORM):
        return CLEAN
    return None


def _aux_weight(weights: str, aux: str) -> float:
    return float(json.loads(weights).get(aux, math.nan)) if weights and aux else math.nan


def _gradient_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Per measured norm (eval, metric), arch and main task: each model's main-task
    input-gradient norm, seeds averaged, against the single-task model's
    (``rel_improvement_pct`` > 0: the norm is smaller)."""
    norms = rows[
        [
            gradient_point(e, m) is not None
            for e, m in zip(rows["eval"], rows["metric"], strict=True)
        ]
    ]
    norms = norms[
        (norms["task"] == norms["main_task"])
        & (norms["aux_tasks"].map(lambda a: len(split_tasks(a))) <= 1)
    ]
    out: list[dict[str, Any]] = []
    keys = ["eval", "metric", "arch", "main_task"]
    for (eval_, metric, arch, main), group in seed_means(
        norms, [*keys, "aux_tasks", "weights"]
    ).groupby(keys, sort=False):
        series = {
            (aux, weights): g.set_index("seed")["value"]
            for (aux, weights), g in group.groupby(["aux_tasks", "weights"], sort=False)
        }
        base = next((s for (aux, _), s in series.items() if not aux), pd.Series(dtype=float))
        for (aux, weights), values in series.items():
            out.append(
                {
                    "eval": eval_,
                    "arch": arch,
                    "main_task": main,
                    "aux_task": aux or None,
                    "aux_weight": _aux_weight(weights, aux),
                    "metric": metric,
                    "higher_is_better": False,
                    **fig7.cell_numbers(values, base, False, is_pair=bool(aux)),
                }
            )
    return pd.DataFrame(out, columns=list(RESULT_COLUMNS))


def reduce(trials: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """Fig. 7's result table (``fig7.reduce``) for the clean and attack evaluations, with
    each row's attack ``family``, ``steps`` and ``eps``; then the gradient-norm rows
    (``kind`` grad_norm). Rows by architecture, then clean and attacks in strength order."""
    rows = check_trials(trials)
    is_attack = rows["eval"].map(lambda e: strength(e) is not None)
    if not is_attack.any():
        raise ReduceError(
            "trials table has no clean or attack evaluations; reduce a "
            "taskonomy-attack-strength (or taskonomy-pairs) sweep"
        )
    is_selection = rows["eval"].map(lambda e: selection_split(e) is not None)
    cells = fig7.reduce(rows[is_attack | is_selection], dataset)
    # An attack that does not apply to a main task (SegPGD on depth) ran on none of its
    # models: its cells are not missing, they do not exist.
    ran = set(zip(rows["eval"], rows["arch"], rows["main_task"], strict=True))
    cells = cells[
        [k in ran for k in zip(cells["eval"], cells["arch"], cells["main_task"], strict=True)]
    ]
    norms = _gradient_rows(rows)
    points = [gradient_point(e, m) for e, m in zip(norms["eval"], norms["metric"], strict=True)]
    parts = [
        _with_strength(cells, ATTACK, cells["eval"]),
        _with_strength(norms, GRADIENT, points),
    ]
    table = pd.concat([p for p in parts if not p.empty], ignore_index=True)
    # attack rows first, then each measured norm; within them by point, in strength order
    order = sorted(
        range(len(table)),
        key=lambda i: (
            table["kind"].iat[i] != ATTACK,
            table["arch"].iat[i],
            "" if table["kind"].iat[i] == ATTACK else table["eval"].iat[i],
            strength_order(table["_point"].iat[i]),
        ),
    )
    table = table.iloc[order].reset_index(drop=True)[COLUMNS]
    table["significant"] = table["significant"].astype("boolean")
    return table


# --------------------------------------------------------------------------- summary


def attack_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The clean and attack rows of an attack-strength table (Fig. 7's result table)."""
    return table[table["kind"] == ATTACK]


def gradient_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The gradient-norm rows of pairs (a baseline's own norm has no improvement)."""
    return table[(table["kind"] == GRADIENT) & table["aux_task"].notna()]


def lines(table: pd.DataFrame) -> pd.DataFrame:
    """One line per (arch, eval) in strength order: cells improved out of filled ones and
    their mean (``fig7.summarize``); where every cell has an interval, the cells
    significantly improved and the mean of the cells' bounds."""
    out = []
    attacks = attack_cells(table)
    for arch, group in attacks.groupby("arch", sort=False):
        for eval_, s in fig7.summarize(group).items():
            family, steps, eps = strength(eval_) or (None, math.nan, math.nan)
            out.append(
                {
                    "arch": arch,
                    "eval": eval_,
                    "family": family,
                    "steps": steps,
                    "eps": eps,
                    "improved": s["improved"],
                    "total": s["total"],
                    "missing": s["missing"],
                    "mean_rel_improvement_pct": s["mean_rel_improvement_pct"],
                    "significant": s.get("significant", math.nan),
                    "ci_low": s.get("ci_low", math.nan),
                    "ci_high": s.get("ci_high", math.nan),
                }
            )
    result = pd.DataFrame(out, columns=LINE_COLUMNS)
    order = sorted(
        range(len(result)),
        key=lambda i: (result["arch"].iat[i], strength_order(result["eval"].iat[i])),
    )
    return result.iloc[order].reset_index(drop=True)


def short_names(evals: pd.Series) -> pd.Series:
    """Evaluation names without ``_eps<ε>`` when they all share one ε (``pgd10``)."""
    eps = {strength(e)[2] for e in evals if strength(e) and e != CLEAN}
    return evals.map(lambda e: _EPS.sub("", e)) if len(eps) <= 1 else evals


def _chain(group: pd.DataFrame) -> str:
    names = short_names(group["eval"])
    parts = []
    for i, (name, line) in enumerate(zip(names, group.itertuples(), strict=True)):
        text = f"{name}: {'improved ' if i == 0 else ''}{line.improved}/{line.total}"
        if line.total:
            text += f" ({round(line.mean_rel_improvement_pct, 2) + 0.0:+.2f} %)"  # no -0.00
        parts.append(text + (f", {line.missing} missing" if line.missing else ""))
    return " → ".join(parts)


def summary(table: pd.DataFrame) -> str:
    """``clean: improved 12/20 (+1.30 %) → pgd10: 9/20 (-0.41 %) → …`` per encoder, and how
    many pairs have a smaller main-task gradient norm than their baseline."""
    per_arch = list(lines(table).groupby("arch", sort=False))
    several = len(per_arch) > 1
    text = [f"{arch + ': ' if several and arch else ''}{_chain(g)}" for arch, g in per_arch]
    norms = gradient_cells(table)
    for arch, group in norms.groupby("arch", sort=False):
        counts = [
            f"{eval_}/{metric} {int((g['rel_improvement_pct'].dropna() > 0).sum())}/"
            f"{int(g['rel_improvement_pct'].notna().sum())}"
            for (eval_, metric), g in group.groupby(["eval", "metric"], sort=False)
        ]
        where = f" ({arch})" if several and arch else ""
        text.append(f"main-task gradient norm below the baseline's{where}: {', '.join(counts)}")
    return "; ".join(text)


# --------------------------------------------------------------------------- tables


def _interval(line: Any) -> str:
    if math.isnan(line.ci_low):
        return ""
    return f"[{line.ci_low:+.2f}, {line.ci_high:+.2f}]"


def _rows_of(table: pd.DataFrame) -> list[list[str]]:
    out = []
    for line in lines(table).itertuples():
        significant = "" if math.isnan(line.significant) else str(int(line.significant))
        mean = "" if not line.total else f"{line.mean_rel_improvement_pct:+.2f}"
        out.append(
            [
                line.arch,
                line.eval,
                f"{line.improved}/{line.total}",
                significant,
                mean,
                _interval(line),
                str(line.missing),
            ]
        )
    return out


_HEADER = [
    "encoder",
    "evaluation",
    "improved",
    "significant",
    "mean rel. improvement (%)",
    "95 % interval",
    "missing",
]


def markdown(table: pd.DataFrame) -> str:
    """The summary lines as a Markdown table."""
    body = ["| " + " | ".join(r) + " |" for r in _rows_of(table)]
    rule = "|" + "|".join("---" for _ in _HEADER) + "|"
    return "\n".join(["| " + " | ".join(_HEADER) + " |", rule, *body]) + "\n"


def latex(table: pd.DataFrame) -> str:
    """The summary lines as a LaTeX ``booktabs`` tabular."""
    body = [" & ".join(latex_escape(c) for c in r) + r" \\" for r in _rows_of(table)]
    return (
        "\n".join(
            [
                r"\begin{tabular}{llrrrlr}",
                r"\toprule",
                " & ".join(latex_escape(h) for h in _HEADER) + r" \\",
                r"\midrule",
                *body,
                r"\bottomrule",
                r"\end{tabular}",
            ]
        )
        + "\n"
    )


# --------------------------------------------------------------------------- draw


def _draw_strength(table: pd.DataFrame, path: Path) -> Path:
    """Cells improved and mean improvement against steps, a line per (family, arch); the
    clean value a dotted line; the main-task gradient-norm change per main task beside."""
    from matplotlib import colormaps

    from orchestrator.reductions.plotting import figure, save

    per_line = lines(table)
    norms = gradient_cells(table)
    attacked = per_line[per_line["family"] != CLEAN]
    if attacked.empty:
        raise ReduceError("the attack-strength table has no attacked evaluation to draw")
    families = list(dict.fromkeys(attacked["family"]))
    palette = colormaps["tab20" if len(families) > 10 else "tab10"]
    colours = {f: palette(i % palette.N) for i, f in enumerate(families)}
    archs = list(dict.fromkeys(per_line["arch"]))
    dashes = ["-", "--", "-.", ":"]
    several_eps = attacked["eps"].nunique() > 1
    panels = 3 if not norms.empty else 2
    fig = figure(4.2 * panels, 4.4)
    axes = fig.subplots(1, panels)
    for k, arch in enumerate(archs):
        own = per_line[per_line["arch"] == arch]
        suffix = f" [{arch}]" if len(archs) > 1 and arch else ""
        clean = own[own["family"] == CLEAN]
        for (family, eps), line in own[own["family"] != CLEAN].groupby(
            ["family", "eps"], sort=False
        ):
            line = line.sort_values("steps")
            style = {"color": colours[family], "linestyle": dashes[k % len(dashes)]}
            label = family + (f" ε={eps:g}" if several_eps else "") + suffix
            axes[0].plot(line["steps"], line["improved"], marker="o", label=label, **style)
            axes[1].plot(
                line["steps"], line["mean_rel_improvement_pct"], marker="o", label=label, **style
            )
            if line["ci_low"].notna().all():
                axes[1].fill_between(
                    line["steps"], line["ci_low"], line["ci_high"], alpha=0.15, **style
                )
        for ax, column in ((axes[0], "improved"), (axes[1], "mean_rel_improvement_pct")):
            for value in clean[column]:
                ax.axhline(value, color="black", linestyle=":", linewidth=1, label=f"clean{suffix}")
    total = int(attacked["total"].max())
    axes[0].set_ylabel(f"cells improved (of up to {total})")
    axes[1].set_ylabel("mean relative improvement (%)")
    axes[1].axhline(0.0, color="0.6", linewidth=0.8)
    steps = sorted(attacked["steps"].unique())
    for ax in axes[:2]:
        ax.set_xscale("log")
        ax.set_xticks(steps, [f"{s:g}" for s in steps], rotation=45 if len(steps) > 5 else 0)
        ax.minorticks_off()
        ax.set_xlabel("attack steps")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=7)
    axes[0].yaxis.get_major_locator().set_params(integer=True)
    axes[0].set_title("Does the multitask gain survive stronger attacks?", fontsize=9)
    if not norms.empty:
        _draw_norms(axes[2], norms)
    return save(fig, path)


def _draw_norms(ax: Any, norms: pd.DataFrame) -> None:
    """Per main task: the geometric mean over its pairs of the main-task gradient norm ÷
    the baseline's (log scale: a ratio below 1 is a shrunk gradient), a bar per measured
    norm (clean, after an attack) and encoder."""
    mains = task_order(norms["main_task"])
    groups = list(norms.groupby(["arch", "eval", "metric"], sort=False))
    several_archs = norms["arch"].nunique() > 1
    width = 0.8 / len(groups)
    for k, ((arch, eval_, metric), own) in enumerate(groups):
        ratios = np.log(own["value"] / own["baseline"]).groupby(own["main_task"]).mean()
        x = np.arange(len(mains)) + (k - (len(groups) - 1) / 2) * width
        label = f"{eval_}/{metric}" + (f" [{arch}]" if several_archs and arch else "")
        heights = [math.exp(ratios[m]) if m in ratios else math.nan for m in mains]
        ax.bar(x, [h - 1 for h in heights], width, bottom=1, label=label)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(mains)), mains, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("main-task ‖∇ₓL‖: pairs ÷ baseline (geometric mean)")
    ax.set_title("input-gradient norm of the pairs (below 1: shrunk)", fontsize=9)
    ax.legend(fontsize=7)


def draw(table: pd.DataFrame, out_dir: Path, fmt: str = "png") -> list[Path]:
    """``attack_strength.<fmt>`` (the plot), ``fig7_<eval>[_<arch>].<fmt>`` (each
    evaluation's heatmap), ``attack_strength.md`` and ``attack_strength.tex``."""
    out_dir = Path(out_dir)
    paths = [_draw_strength(table, picture_path(out_dir, _STEM, fmt))]
    paths += fig7.draw(attack_cells(table)[list(RESULT_COLUMNS)], out_dir, fmt=fmt)
    paths += [
        write_text(markdown(table), out_dir / f"{_STEM}.md"),
        write_text(latex(table), out_dir / f"{_STEM}.tex"),
    ]
    return paths
