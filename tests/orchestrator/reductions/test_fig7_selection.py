"""λ_a selection in the Fig. 7 reduction: the candidate that validates best gives the cell.

Every table here makes the better-validating λ_a the one with the worse test value, so a
reducer that chose on the test split, or averaged the candidates, gives a different answer.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from orchestrator.reductions import fig7
from orchestrator.reductions.table import SELECTION_EVAL, UNRECORDED, ReduceError, selection_split
from tests.orchestrator.reductions.conftest import D, N, S, trial_row

METRIC = {S: "miou", D: "l1", N: "l1"}
VAL = f"{SELECTION_EVAL}_val"  # the eval a trial records on evaluation.select_split: val


def _trial(main: str, aux: str, lam: float | None, seed: int, **values: float) -> list[dict]:
    """One trial's main-task rows; ``selection=`` becomes the validation selection row."""
    weights = {main: 1.0} if lam is None else {main: 1.0, aux: lam}
    return [
        trial_row(
            main, aux, seed, VAL if name == "selection" else name, METRIC[main], value,
            weights=weights,
        )
        for name, value in values.items()
    ]  # fmt: skip


def _cells(result: pd.DataFrame, main: str, aux: str, eval_: str = "clean") -> pd.DataFrame:
    rows = result[(result["eval"] == eval_) & (result["main_task"] == main)]
    return rows[rows["aux_task"] == aux]


def _only(result: pd.DataFrame, main: str, aux: str, eval_: str = "clean") -> pd.Series:
    rows = _cells(result, main, aux, eval_)
    assert len(rows) == 1, rows
    return rows.iloc[0]


def _seg_depth_candidates() -> list[dict]:
    """seg+depth at λ 0.1 validates better (50 > 45) but tests worse (41 < 46, 20 < 25)."""
    return [
        *_trial(S, "", None, 0, selection=60.0, clean=40.0, pgd50_eps4=20.0),
        *_trial(S, D, 0.1, 0, selection=50.0, clean=41.0, pgd50_eps4=20.0),
        *_trial(S, D, 0.01, 0, selection=45.0, clean=46.0, pgd50_eps4=25.0),
    ]


def test_the_better_validating_lambda_gives_the_cell_even_where_it_tests_worse():
    result = fig7.reduce(pd.DataFrame(_seg_depth_candidates()), "taskonomy")
    for eval_, value, alt_value in (("clean", 41.0, 46.0), ("pgd50_eps4", 20.0, 25.0)):
        cell = _only(result, S, D, eval_)
        assert cell["value"] == pytest.approx(value)  # not 46 (test-best), not 43.5 (mean)
        assert cell["aux_weight"] == pytest.approx(0.1)
        assert cell["alt_aux_weight"] == pytest.approx(0.01)
        assert cell["alt_value"] == pytest.approx(alt_value)
        assert cell["selected_on"] == "val" and cell["n_seeds"] == 1
    assert _only(result, S, D)["rel_improvement_pct"] == pytest.approx(2.5)  # 41 vs 40
    baseline = result[result["aux_task"].isna() & (result["eval"] == "clean")].iloc[0]
    assert baseline["value"] == pytest.approx(40.0)  # its own selection row is ignored
    assert result["eval"].map(selection_split).isna().all()


@pytest.mark.parametrize(
    ("eval_", "split"), [(f"{SELECTION_EVAL}_test", "test"), (SELECTION_EVAL, UNRECORDED)]
)
def test_the_table_names_the_split_the_candidates_were_compared_on(eval_, split):
    rows = [{**r, "eval": eval_} if r["eval"] == VAL else r for r in _seg_depth_candidates()]
    result = fig7.reduce(pd.DataFrame(rows), "taskonomy")
    assert set(fig7.cells(result)["selected_on"]) == {split}
    assert _only(result, S, D)["aux_weight"] == pytest.approx(0.1)


def test_baselines_carry_no_alternative_with_or_without_selection():
    without = [r for r in _seg_depth_candidates() if r["eval"] != VAL]
    for rows in (_seg_depth_candidates(), without):
        result = fig7.reduce(pd.DataFrame(rows), "taskonomy")
        baselines = result[result["aux_task"].isna()]
        assert len(baselines) == 2 and baselines["value"].notna().all()
        assert baselines["alt_value"].isna().all() and baselines["alt_aux_weight"].isna().all()
        assert baselines["selected_on"].isna().all()


def test_lower_is_better_metrics_choose_the_smaller_validation_error():
    rows = [
        *_trial(D, "", None, 0, selection=0.25, clean=0.50),
        *_trial(D, S, 0.1, 0, selection=0.30, clean=0.45),
        *_trial(D, S, 0.01, 0, selection=0.20, clean=0.55),
    ]
    cell = _only(fig7.reduce(pd.DataFrame(rows), "taskonomy"), D, S)
    assert cell["aux_weight"] == pytest.approx(0.01) and cell["value"] == pytest.approx(0.55)
    assert cell["alt_aux_weight"] == pytest.approx(0.1) and cell["alt_value"] == pytest.approx(0.45)
    assert cell["rel_improvement_pct"] == pytest.approx(-10.0)


def test_selection_is_on_the_seed_mean_and_the_cell_averages_the_chosen_seeds_only():
    rows = []
    for seed, base in ((0, 40.0), (1, 42.0)):
        rows += _trial(S, "", None, seed, clean=base)
    # λ 0.1 wins seed 0 (50 > 45) and has the best single seed, but λ 0.01 the mean (44.5 > 40)
    for seed, sel, test in ((0, 50.0, 41.0), (1, 30.0, 43.0)):
        rows += _trial(S, D, 0.1, seed, selection=sel, clean=test)
    for seed, sel, test in ((0, 45.0, 40.0), (1, 44.0, 40.0)):
        rows += _trial(S, D, 0.01, seed, selection=sel, clean=test)
    cell = _only(fig7.reduce(pd.DataFrame(rows), "taskonomy"), S, D)
    assert cell["aux_weight"] == pytest.approx(0.01)
    assert cell["value"] == pytest.approx(40.0) and cell["n_seeds"] == 2
    assert cell["alt_value"] == pytest.approx(42.0)
    assert cell["ci_method"] == "paired"


def test_a_tie_on_validation_goes_to_the_larger_lambda():
    rows = [
        *_trial(S, "", None, 0, clean=40.0),
        *_trial(S, D, 0.01, 0, selection=45.0, clean=48.0),
        *_trial(S, D, 0.1, 0, selection=45.0, clean=42.0),
    ]
    cell = _only(fig7.reduce(pd.DataFrame(rows), "taskonomy"), S, D)
    assert cell["aux_weight"] == pytest.approx(0.1) and cell["value"] == pytest.approx(42.0)


def test_without_selection_rows_each_lambda_stays_its_own_cell():
    rows = [
        *_trial(S, "", None, 0, clean=40.0),
        *_trial(S, D, 0.1, 0, clean=44.0),
        *_trial(S, D, 0.01, 0, clean=36.0),
    ]
    result = fig7.reduce(pd.DataFrame(rows), "taskonomy")
    cells = _cells(result, S, D).set_index("aux_weight")
    assert sorted(cells.index) == [0.01, 0.1]
    assert cells.loc[0.1, "value"] == pytest.approx(44.0)
    assert cells.loc[0.01, "value"] == pytest.approx(36.0)
    assert cells["selected_on"].isna().all()
    assert cells["alt_aux_weight"].isna().all() and cells["alt_value"].isna().all()
    (heatmap,) = fig7.heatmaps(result)
    assert heatmap.columns == ["baseline", f"{D} λ=0.01", f"{D} λ=0.1", "mean"]


def test_a_selection_sweep_counts_one_cell_per_pair_and_draws_one_column_per_task():
    tasks, rows = (S, D, N), []
    for main in tasks:
        rows += _trial(main, "", None, 0, clean=1.0)
        for i, aux in enumerate(t for t in tasks if t != main):
            # the chosen λ differs between pairs of one column: it must still be one column
            better, worse = (0.1, 0.01) if i == 0 else (0.01, 0.1)
            rows += _trial(main, aux, better, 0, selection=2.0 if main == S else 0.5, clean=1.2)
            rows += _trial(main, aux, worse, 0, selection=1.0, clean=0.8)
    result = fig7.reduce(pd.DataFrame(rows), "taskonomy")
    assert fig7.summarize(result)["clean"]["total"] == 6  # 3·2 pairs, not 12 candidates
    assert set(fig7.cells(result)["aux_weight"]) == {0.1, 0.01}
    (heatmap,) = fig7.heatmaps(result)
    assert heatmap.eval == "clean" and heatmap.columns == ["baseline", S, D, N, "mean"]
    assert all(text != fig7.MISSING for line in heatmap.texts for text in line)


def test_the_chosen_candidate_missing_an_eval_is_a_missing_cell_not_the_alternative():
    rows = [r for r in _seg_depth_candidates() if r["value"] != 20.0 or r["aux_tasks"] == ""]
    cell = _only(fig7.reduce(pd.DataFrame(rows), "taskonomy"), S, D, "pgd50_eps4")
    assert cell["aux_weight"] == pytest.approx(0.1)
    assert math.isnan(cell["value"]) and cell["n_seeds"] == 0
    assert cell["alt_value"] == pytest.approx(25.0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([trial_row(S, D, 0, VAL, "miou", 1.0, weights={S: 0.5, D: 0.3})],
         "differ in more than λ_a"),
        ([trial_row(S, D, 1, f"{SELECTION_EVAL}_test", "miou", 1.0, weights={S: 1.0, D: 0.1})],
         r"compared on different splits \(test, val\)"),
        (_trial(S, N, 0.1, 0, clean=41.0) + _trial(D, N, 0.1, 0, selection=0.1, clean=0.1),
         "both with and without λ_a selection"),
    ],
)  # fmt: skip
def test_candidates_that_cannot_be_chosen_between_are_refused(extra, message):
    with pytest.raises(ReduceError, match=message):
        fig7.reduce(pd.DataFrame(_seg_depth_candidates() + extra), "taskonomy")
