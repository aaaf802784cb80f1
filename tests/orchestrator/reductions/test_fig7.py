"""The Fig. 7 reduction's arithmetic on hand-built trials tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from orchestrator.cli import main
from orchestrator.reductions import fig7
from orchestrator.reductions.table import ReduceError, read_summary
from tasks.registry import tasks_of
from tests.orchestrator.reductions.conftest import D, N, S, fig7_rows, trial_row


def _cell(result, main, aux, eval_="clean", **where):
    rows = result[(result["eval"] == eval_) & (result["main_task"] == main)]
    rows = rows[rows["aux_task"].isna()] if aux is None else rows[rows["aux_task"] == aux]
    for column, value in where.items():
        rows = rows[rows[column] == value]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_relative_improvement_has_the_right_sign_for_both_directions(fig7_trials):
    result = fig7.reduce(fig7_trials, "taskonomy")
    assert _cell(result, S, D)["rel_improvement_pct"] == pytest.approx(10.0)
    assert _cell(result, S, N)["rel_improvement_pct"] == pytest.approx(-5.0)
    assert _cell(result, D, S)["rel_improvement_pct"] == pytest.approx(20.0)
    assert _cell(result, D, N)["rel_improvement_pct"] == pytest.approx(-20.0)
    assert _cell(result, N, D)["rel_improvement_pct"] == pytest.approx(25.0)
    assert bool(_cell(result, S, D)["higher_is_better"]) is True
    assert bool(_cell(result, D, S)["higher_is_better"]) is False
    assert _cell(result, S, D)["metric"] == "miou" and _cell(result, D, S)["metric"] == "l1"


def test_seeds_are_averaged_before_the_formula_and_std_is_the_sample_std(fig7_trials):
    result = fig7.reduce(fig7_trials, "taskonomy")
    cell = _cell(result, S, D)
    assert cell["value"] == pytest.approx(44.0) and cell["baseline"] == pytest.approx(40.0)
    assert cell["n_seeds"] == 2 and cell["value_std"] == pytest.approx(math.sqrt(2))  # 43, 45
    base = _cell(result, S, None)
    assert base["value"] == pytest.approx(40.0) and math.isnan(base["rel_improvement_pct"])


def test_missing_cell_is_nan_not_zero_and_counted_missing(fig7_trials):
    result = fig7.reduce(fig7_trials, "taskonomy")
    missing = _cell(result, N, S)
    assert math.isnan(missing["value"]) and math.isnan(missing["rel_improvement_pct"])
    assert missing["n_seeds"] == 0
    assert len(fig7.cells(result)) == 6 and len(result) == 9
    counts = fig7.summarize(result)["clean"]
    assert (counts["improved"], counts["total"], counts["missing"]) == (3, 5, 1)
    assert counts["mean_rel_improvement_pct"] == pytest.approx((10 - 5 + 20 - 20 + 25) / 5)


def test_summary_without_intervals_keeps_todays_text():
    one_seed = pd.DataFrame(fig7_rows(seeds=((0, 0.0),)))
    result = fig7.reduce(one_seed, "taskonomy")
    assert result["ci_method"].isna().all() and result["significant"].isna().all()
    assert fig7.summary(result) == "clean: improved 3/5 cells, mean +6.00 % (1 missing)"


def test_row_means_skip_missing_cells(fig7_trials):
    means = fig7.row_means(fig7.reduce(fig7_trials, "taskonomy")).set_index("main_task")
    assert means.loc[S, "mean_rel_improvement_pct"] == pytest.approx(2.5)
    assert means.loc[D, "mean_rel_improvement_pct"] == pytest.approx(0.0)
    assert means.loc[N, "mean_rel_improvement_pct"] == pytest.approx(25.0)
    assert means.loc[N, "n_cells"] == 1


def test_missing_baseline_leaves_its_row_without_improvements(fig7_trials):
    t = fig7_trials[~((fig7_trials["main_task"] == D) & (fig7_trials["aux_tasks"] == ""))]
    result = fig7.reduce(t, "taskonomy")
    assert math.isnan(_cell(result, D, S)["rel_improvement_pct"])
    assert _cell(result, D, S)["value"] == pytest.approx(0.4)
    assert _cell(result, S, D)["rel_improvement_pct"] == pytest.approx(10.0)


# --------------------------------------------------------------------------- identity


def test_models_that_differ_in_lambda_are_separate_cells_never_averaged():
    rows = [trial_row(S, "", 0, "clean", "miou", 40.0, weights={S: 1.0})]
    rows.append(trial_row(S, D, 0, "clean", "miou", 44.0, weights={S: 1.0, D: 0.1}))
    rows.append(trial_row(S, D, 0, "clean", "miou", 36.0, weights={S: 1.0, D: 0.01}))
    result = fig7.reduce(pd.DataFrame(rows), "taskonomy")
    strong = _cell(result, S, D, aux_weight=0.1)
    weak = _cell(result, S, D, aux_weight=0.01)
    assert strong["rel_improvement_pct"] == pytest.approx(10.0)  # not the average 0 %
    assert weak["rel_improvement_pct"] == pytest.approx(-10.0)
    assert fig7.summarize(result)["clean"]["total"] == 2


def test_each_pair_is_compared_with_the_baseline_of_its_own_architecture():
    rows = []
    for arch, base, pair in (("resnet18", 40.0, 44.0), ("drn", 50.0, 45.0)):
        rows.append(trial_row(S, "", 0, "clean", "miou", base, arch=arch))
        rows.append(trial_row(S, D, 0, "clean", "miou", pair, arch=arch))
    result = fig7.reduce(pd.DataFrame(rows), "taskonomy")
    assert _cell(result, S, D, arch="resnet18")["rel_improvement_pct"] == pytest.approx(10.0)
    assert _cell(result, S, D, arch="drn")["rel_improvement_pct"] == pytest.approx(-10.0)
    assert _cell(result, S, None, arch="drn")["baseline"] == pytest.approx(50.0)


def test_weights_json_in_any_key_order_is_one_model():
    rows = [
        trial_row(S, "", 0, "clean", "miou", 40.0),
        {**trial_row(S, D, 0, "clean", "miou", 42.0), "weights": f'{{"{S}": 1, "{D}": 0.1}}'},
        {**trial_row(S, D, 1, "clean", "miou", 46.0), "weights": f'{{"{D}":0.1,"{S}":1.0}}'},
    ]
    cell = _cell(fig7.reduce(pd.DataFrame(rows), "taskonomy"), S, D)
    assert cell["n_seeds"] == 2 and cell["value"] == pytest.approx(44.0)


# --------------------------------------------------------------------------- intervals


def _seeded(model: dict[int, float], baseline: dict[int, float]) -> pd.DataFrame:
    rows = [trial_row(S, "", s, "clean", "miou", v) for s, v in baseline.items()]
    rows += [trial_row(S, D, s, "clean", "miou", v) for s, v in model.items()]
    return pd.DataFrame(rows)


def test_shared_seeds_give_a_paired_interval():
    base = {0: 40.0, 1: 42.0, 2: 38.0}
    model = {0: 41.0, 1: 43.2, 2: 38.9}  # always a little better: the pairing sees it
    cell = _cell(fig7.reduce(_seeded(model, base), "taskonomy"), S, D)
    expected = stats.ttest_rel(list(model.values()), list(base.values())).confidence_interval()
    assert cell["ci_method"] == "paired"
    assert cell["ci_low"] == pytest.approx(expected.low / 40.0 * 100)
    assert cell["ci_high"] == pytest.approx(expected.high / 40.0 * 100)
    assert cell["ci_low"] < cell["rel_improvement_pct"] < cell["ci_high"]
    assert bool(cell["significant"]) is True
    p = stats.ttest_rel(list(model.values()), list(base.values())).pvalue
    assert cell["p_value"] == pytest.approx(p) and p < 0.05


def test_different_seeds_give_a_welch_interval_and_lower_is_better_flips_it():
    base = {0: 0.50, 1: 0.52, 2: 0.48}
    model = {3: 0.45, 4: 0.47}
    rows = [trial_row(D, "", s, "clean", "l1", v) for s, v in base.items()]
    rows += [trial_row(D, S, s, "clean", "l1", v) for s, v in model.items()]
    cell = _cell(fig7.reduce(pd.DataFrame(rows), "taskonomy"), D, S)
    expected = stats.ttest_ind(
        list(base.values()), list(model.values()), equal_var=False
    ).confidence_interval()  # baseline − model: the gain when lower is better
    assert cell["ci_method"] == "welch"
    assert cell["ci_low"] == pytest.approx(expected.low / 0.5 * 100)
    assert cell["ci_high"] == pytest.approx(expected.high / 0.5 * 100)
    assert cell["rel_improvement_pct"] == pytest.approx(8.0)
    p = stats.ttest_ind(list(base.values()), list(model.values()), equal_var=False).pvalue
    assert cell["p_value"] == pytest.approx(p)


def test_summary_with_intervals_counts_significant_cells(fig7_trials):
    result = fig7.reduce(fig7_trials, "taskonomy")
    filled = fig7.cells(result).dropna(subset=["rel_improvement_pct"])
    assert (filled["ci_method"] == "paired").all()
    # seg cells move with their baseline seed for seed: zero-width, significant intervals
    assert _cell(result, S, D)["ci_low"] == pytest.approx(10.0)
    assert _cell(result, S, D)["ci_high"] == pytest.approx(10.0)
    line = fig7.summary(result)
    lo, hi = filled["ci_low"].mean(), filled["ci_high"].mean()
    assert line == (
        "clean: improved 3/5 (3 significant at 5 % FDR, Benjamini–Hochberg), mean +6.00 %"
        f" [{lo:+.2f}, {hi:+.2f}] (1 missing)"
    )


def test_an_interval_that_spans_zero_is_not_significant():
    cell = _cell(fig7.reduce(_seeded({0: 45.0, 1: 37.0}, {0: 40.0, 1: 40.0}), "taskonomy"), S, D)
    assert cell["ci_low"] < 0 < cell["ci_high"] and bool(cell["significant"]) is False
    assert cell["p_value"] > 0.05


# --------------------------------------------------------------------------- many cells


def _grid(rng: np.random.Generator, effects: dict[tuple[str, str], float]) -> pd.DataFrame:
    """Paper-sized trials: 11 main tasks × 10 auxiliary tasks, 6 seeds, every model's value
    1 + N(0, 0.02²) per seed; a pair in ``effects`` gains that fraction on its baseline."""
    names = [t.name for t in tasks_of("taskonomy")]
    rows = []
    for main_task in names:
        metric, sign = ("miou", 1.0) if main_task == S else ("l1", -1.0)
        for seed in range(6):
            rows.append(trial_row(main_task, "", seed, "clean", metric, 1 + 0.02 * rng.normal()))
            for aux in (n for n in names if n != main_task):
                value = 1 + sign * effects.get((main_task, aux), 0.0) + 0.02 * rng.normal()
                rows.append(trial_row(main_task, aux, seed, "clean", metric, value))
    return pd.DataFrame(rows)


def test_without_an_effect_the_fdr_count_stays_near_zero_where_per_cell_tests_do_not():
    per_cell = after_fdr = 0
    for seed in range(4):  # 4 × 110 cells where nothing helps
        result = fig7.reduce(_grid(np.random.default_rng(seed), {}), "taskonomy")
        cells = fig7.cells(result)
        assert len(cells) == 110 and cells["p_fdr"].notna().all()
        assert (cells["p_fdr"] >= cells["p_value"] - 1e-12).all()
        per_cell += int((cells["ci_low"] > 0).sum())
        after_fdr += fig7.summarize(result)["clean"]["significant"]
    assert per_cell >= 4  # chance hits: ~2.5 % of 440 cells improved at 95 % each
    assert after_fdr <= 1


def test_a_planted_effect_is_found_after_fdr_through_the_cli(tmp_path, capsys):
    planted = {(S, D): 0.2, (D, N): 0.2, ("normal", "reshading"): 0.2}
    trials = _grid(np.random.default_rng(0), planted)
    table, out = tmp_path / "trials.parquet", tmp_path / "fig7.parquet"
    trials.to_parquet(table)
    assert main(["reduce", "--from-table", str(table), "--out", str(out)]) == 0
    assert "clean: improved" in capsys.readouterr().out
    result = pd.read_parquet(out)
    found = fig7.cells(result)[fig7.cells(result)["p_fdr"] < 0.05]
    assert set(zip(found["main_task"], found["aux_task"], strict=True)) == set(planted)
    assert "(3 significant at 5 % FDR, Benjamini–Hochberg)" in read_summary(out)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns=["metric"]), "lacks column.*metric"),
        (lambda t: t.iloc[0:0], "empty"),
        (lambda t: t.assign(task="bogus", main_task="bogus"), "bogus"),
        (lambda t: t.assign(seed="x"), "seed"),
        (lambda t: t.assign(weights="not json"), "weights"),
        (lambda t: t.assign(aux_tasks=f"{D}+{N}"), "has no main-task rows"),
    ],
)
def test_bad_tables_raise_one_clear_error(fig7_trials, change, message):
    with pytest.raises(ReduceError, match=message):
        fig7.reduce(change(fig7_trials), "taskonomy")
