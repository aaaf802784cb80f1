"""A run's results beside the paper's published numbers (``published``): per cell ours, the
paper's, their difference, whether the two gains have the same sign and whether the
paper's gain lies in our 95 % interval; per figure or table the sign agreement N/M, the
Spearman rank correlation of the gains, and the "improved k/n, mean %" summaries of both
over the cells both have, with and without the principal-curvature row and column (whose
Fig. 7 target was broken in the authors' code, docs/fidelity.md).

A *gain* is the relative improvement over the single-task baseline in %, positive where
better: Fig. 7 prints it; for Tables 1–3 it is computed from the printed values the same
way for both sides. Only cells present on both sides are compared, so a run of any subset
of the tasks, models or evaluations compares on what it has.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orchestrator.reductions.naming import attack_eval
from orchestrator.reductions.table import relative_improvement
from orchestrator.scorecard.published import (
    CURVATURE,
    FIG7,
    FIG7_TASKS,
    PGD_MT,
    TABLES,
    Fig7Matrix,
    PublishedTable,
)
from tasks.errors import MtsweepError

BASELINE = "baseline"
COLUMNS = (
    "source",
    "eval",
    "arch",
    "main_task",
    "model",  # Fig. 7: the auxiliary task; Tables 1–3: the paper's label; or "baseline"
    "ours",
    "paper",
    "difference",
    "ours_gain_pct",
    "paper_gain_pct",
    "sign_agrees",
    "ci_low",
    "ci_high",
    "paper_in_interval",
)
# λ_a of the models the authors evaluated for Fig. 7 (MTRobust test_taskonomy_seg.py): the
# cell compared when a run trained one pair at several λ_a and chose none.
AUTHORS_AUX_WEIGHT = {
    "normal": 0.1,
    "reshading": 0.1,
    "depth_euclidean": 0.1,
    "edge_occlusion": 0.1,
}
DEFAULT_AUX_WEIGHT = 0.01


class NothingToCompare(MtsweepError):
    """A run none of whose results the paper published."""


@dataclass(frozen=True)
class Tally:
    """``improved`` of ``total`` gains above 0, and their mean in % (NaN for none)."""

    improved: int
    total: int
    mean_pct: float

    def text(self) -> str:
        mean = "n/a" if math.isnan(self.mean_pct) else f"{self.mean_pct:+.2f} %"
        return f"improved {self.improved}/{self.total}, mean {mean}"


def tally(gains: Iterable[float]) -> Tally:
    """The paper's summary of a set of gains, over the finite ones."""
    values = np.array([g for g in gains if math.isfinite(g)], dtype=float)
    mean = float(values.mean()) if values.size else math.nan
    return Tally(int((values > 0).sum()), int(values.size), mean)


def paper_tally(matrix: Fig7Matrix, without: Iterable[str] = ()) -> Tally:
    """The summary of a published Fig. 7 matrix recomputed from its cells, leaving out the
    rows and columns of the tasks in ``without``."""
    drop = set(without)
    return tally(v for (m, a), v in matrix.cells.items() if m not in drop and a not in drop)


# --------------------------------------------------------------------------- cells


def _row(source: str, eval_: str, arch: str, main: str, model: str, **numbers) -> dict:
    ours, paper = numbers.get("ours", math.nan), numbers.get("paper", math.nan)
    ours_gain = numbers.get("ours_gain_pct", math.nan)
    paper_gain = numbers.get("paper_gain_pct", math.nan)
    low, high = numbers.get("ci_low", math.nan), numbers.get("ci_high", math.nan)
    both = math.isfinite(ours_gain) and math.isfinite(paper_gain)
    has_ci = math.isfinite(low) and math.isfinite(high)
    return {
        "source": source,
        "eval": eval_,
        "arch": arch,
        "main_task": main,
        "model": model,
        "ours": ours,
        "paper": paper,
        "difference": ours - paper,
        "ours_gain_pct": ours_gain,
        "paper_gain_pct": paper_gain,
        "sign_agrees": (np.sign(ours_gain) == np.sign(paper_gain)) if both else None,
        "ci_low": low,
        "ci_high": high,
        "paper_in_interval": (low <= paper_gain <= high) if has_ci and both else None,
    }


def _one_per_cell(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per (main, auxiliary): the chosen λ_a if the run chose, else the authors' λ_a
    if it trained that one, else the smallest λ_a it trained."""
    pairs = pairs.assign(
        _rank=[
            0
            if pd.notna(sel)
            else 1
            if lam == AUTHORS_AUX_WEIGHT.get(aux, DEFAULT_AUX_WEIGHT)
            else 2
            for sel, lam, aux in zip(
                pairs["selected_on"], pairs["aux_weight"], pairs["aux_task"], strict=True
            )
        ]
    )
    pairs = pairs.sort_values(["_rank", "aux_weight"], kind="stable")
    return pairs.drop_duplicates(["main_task", "aux_task"]).drop(columns="_rank")


def fig7_rows(result: pd.DataFrame, matrix: Fig7Matrix) -> list[dict]:
    """A Fig. 7 result table's cells (``orchestrator.reductions.fig7.reduce``) of the
    matrix's evaluation beside the matrix's, one row per baseline and per pair."""
    rows = result[(result["eval"] == matrix.eval) & result["main_task"].isin(FIG7_TASKS)]
    out = []
    for arch, group in rows.groupby("arch", sort=True, dropna=False):
        arch = "" if pd.isna(arch) else str(arch)
        for base in group[group["aux_task"].isna()].itertuples():
            main = base.main_task
            out.append(
                _row(
                    matrix.source,
                    matrix.eval,
                    arch,
                    main,
                    BASELINE,
                    ours=float(base.value),
                    paper=matrix.baselines[main],
                )
            )
        pairs = group[group["aux_task"].isin(FIG7_TASKS)]
        for cell in _one_per_cell(pairs).itertuples():
            paper = matrix.cells[(cell.main_task, cell.aux_task)]
            ours = float(cell.rel_improvement_pct)
            out.append(
                _row(
                    matrix.source,
                    matrix.eval,
                    arch,
                    cell.main_task,
                    cell.aux_task,
                    ours=ours,
                    paper=paper,
                    ours_gain_pct=ours,
                    paper_gain_pct=paper,
                    ci_low=float(cell.ci_low),
                    ci_high=float(cell.ci_high),
                )
            )
    return out


def _published_eval(table: PublishedTable, eval_: str) -> str | None:
    """The published row an evaluation of ours reports: the same name, or for Table 1's
    unspecified multitask PGD any multitask PGD."""
    evals = {e for _, e in table.values}
    if eval_ in evals:
        return eval_
    spec = attack_eval(eval_)
    if PGD_MT in evals and spec is not None and spec.attack == "pgd" and spec.multitask:
        return PGD_MT
    return None


def table_rows(result: pd.DataFrame, table: PublishedTable) -> list[dict]:
    """An attack-table result (``orchestrator.reductions.attack_table.reduce``) beside a
    published table: every (main, evaluation, model) both have, gains over each side's own
    single-task baseline of the same row."""
    out = []
    for row_key, group in result.groupby(["arch", "group_task", "eval"], sort=False):
        arch, main, eval_ = row_key
        published = _published_eval(table, eval_)
        paper_row = table.values.get((main, published)) if published else None
        if paper_row is None:
            continue
        up = table.higher_is_better(main)
        ours_by_model = dict(zip(group["model"], group["value"].astype(float), strict=True))
        baseline = table.models[main][0]
        ours_base = ours_by_model.get(baseline, math.nan)
        for model, paper in paper_row.items():
            if model not in ours_by_model:
                continue
            ours = ours_by_model[model]
            is_base = model == baseline
            out.append(
                _row(
                    table.source,
                    eval_,
                    str(arch),
                    main,
                    model,
                    ours=ours,
                    paper=paper,
                    ours_gain_pct=math.nan
                    if is_base
                    else relative_improvement(ours, ours_base, up),
                    paper_gain_pct=math.nan
                    if is_base
                    else relative_improvement(paper, paper_row[baseline], up),
                )
            )
    return out


def scorecard(fig7_result: pd.DataFrame | None, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every comparable cell of a run: its Fig. 7 result table (or None) and its attack-table
    results by the published table they reproduce ("Table 2" → its result); raises
    NothingToCompare if no cell is comparable."""
    rows: list[dict] = []
    if fig7_result is not None:
        for matrix in FIG7:
            rows += fig7_rows(fig7_result, matrix)
    by_source = {t.source: t for t in TABLES}
    for source, result in tables.items():
        rows += table_rows(result, by_source[source])
    card = pd.DataFrame(rows, columns=list(COLUMNS))
    if card.empty:
        raise NothingToCompare(
            "the run has no results the paper published (Fig. 7's clean/pgd50_eps4 cells of "
            "Taskonomy tasks, or Tables 1–3's evaluations); run taskonomy-pairs or a "
            "cityscapes sweep, or give a run whose results exist"
        )
    for column in ("sign_agrees", "paper_in_interval"):
        card[column] = card[column].astype("boolean")
    return card


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class Agreement:
    """One figure's (or table's) comparison over the cells both sides have."""

    source: str
    eval: str
    arch: str
    label: str  # "all cells" or "without principal_curvature"
    signs_agree: int
    compared: int
    spearman: float
    in_interval: int
    with_interval: int
    ours: Tally
    paper: Tally

    def text(self) -> str:
        rho = "n/a" if math.isnan(self.spearman) else f"{self.spearman:+.2f}"
        parts = [
            f"{self.source} {self.eval}"
            + (f" [{self.arch}]" if self.arch else "")
            + f", {self.label}: signs agree {self.signs_agree}/{self.compared}",
            f"Spearman {rho}",
        ]
        if self.with_interval:
            parts.append(f"paper in our 95 % interval {self.in_interval}/{self.with_interval}")
        parts += [f"ours {self.ours.text()}", f"paper {self.paper.text()}"]
        return "; ".join(parts)


def spearman(ours: pd.Series, paper: pd.Series) -> float:
    """Spearman's rank correlation (ties ranked alike at 1e-9 %, below any printed digit);
    NaN for fewer than 3 cells or a constant side."""
    ours, paper = ours.round(9), paper.round(9)
    if len(ours) < 3 or ours.nunique() < 2 or paper.nunique() < 2:
        return math.nan
    return float(ours.rank().corr(paper.rank()))


def _agreement(cells: pd.DataFrame, key: tuple[str, str, str], label: str) -> Agreement:
    both = cells.dropna(subset=["ours_gain_pct", "paper_gain_pct"])
    interval = both["paper_in_interval"].dropna()
    return Agreement(
        *key,
        label=label,
        signs_agree=int(both["sign_agrees"].sum()),
        compared=len(both),
        spearman=spearman(both["ours_gain_pct"], both["paper_gain_pct"]),
        in_interval=int(interval.sum()),
        with_interval=len(interval),
        ours=tally(both["ours_gain_pct"]),
        paper=tally(both["paper_gain_pct"]),
    )


def agreements(card: pd.DataFrame) -> list[Agreement]:
    """Per (source, eval, arch): all cells, and for Fig. 7 also without principal curvature."""
    out = []
    cells = card[card["model"] != BASELINE]
    for key, group in cells.groupby(["source", "eval", "arch"], sort=False):
        out.append(_agreement(group, key, "all cells"))
        curved = (group["main_task"] == CURVATURE) | (group["model"] == CURVATURE)
        if curved.any():
            out.append(_agreement(group[~curved], key, f"without {CURVATURE}"))
    return out


def summary(card: pd.DataFrame) -> str:
    """One line per agreement."""
    return "\n".join(a.text() for a in agreements(card))


def _cell_text(value: object) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    return f"{value:.4g}" if isinstance(value, (float, np.floating)) else str(value)


def markdown(card: pd.DataFrame) -> str:
    """The summary lines, then the cells as a Markdown table."""
    head = "| " + " | ".join(card.columns) + " |"
    rule = "|" + "---|" * len(card.columns)
    body = [
        "| " + " | ".join(_cell_text(v) for v in row) + " |" for row in card.itertuples(index=False)
    ]
    lines = [f"- {line}" for line in summary(card).splitlines()]
    return "\n".join([*lines, "", head, rule, *body]) + "\n"
