"""The Fig. 7 reducer's arithmetic on a hand-built trials table, and its files."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from orchestrator.reduce import (
    ReduceError,
    load_trials_table,
    read_result,
    read_summary,
    reduce_trials,
    row_means,
    summarize,
    summary_line,
    write_result,
)

S, D, N = "segment_semantic", "depth_zbuffer", "normal"


def _rows(main, aux, seed, eval_, metric, value, task=None):
    return {
        "trial_key": f"{main}+{aux}/{seed}",
        "main_task": main,
        "aux_tasks": aux,
        "seed": seed,
        "eval": eval_,
        "task": task or main,
        "metric": metric,
        "value": value,
    }


def trials() -> pd.DataFrame:
    """3 tasks; seg (miou, higher better) and depth (l1, lower better) with two seeds."""
    r = []
    for seed, jitter in ((0, -1.0), (1, 1.0)):
        r += [
            _rows(S, "", seed, "clean", "miou", 40.0 + jitter),  # baseline mean 40
            _rows(S, D, seed, "clean", "miou", 44.0 + jitter),  # +10 %
            _rows(S, N, seed, "clean", "miou", 38.0 + jitter),  # -5 %
            _rows(D, "", seed, "clean", "l1", 0.5),
            _rows(D, S, seed, "clean", "l1", 0.4),  # +20 % (lower is better)
            _rows(D, N, seed, "clean", "l1", 0.6),  # -20 %
            _rows(N, "", seed, "clean", "l1", 0.2),
            # normal+segment missing: a failed cell
            _rows(N, D, seed, "clean", "l1", 0.15),  # +25 %
            _rows(S, "", seed, "clean", "pixel_acc", 99.0),  # not the primary metric
            _rows(S, D, seed, "clean", "l1", 7.0, task=D),  # not the main task
        ]
    return pd.DataFrame(r)


def _cell(result, main, aux, eval_="clean"):
    rows = result[(result["eval"] == eval_) & (result["main_task"] == main)]
    rows = rows[rows["aux_task"].isna()] if aux is None else rows[rows["aux_task"] == aux]
    assert len(rows) == 1
    return rows.iloc[0]


def test_relative_improvement_has_the_right_sign_for_both_directions():
    result = reduce_trials(trials())
    assert _cell(result, S, D)["rel_improvement_pct"] == pytest.approx(10.0)
    assert _cell(result, S, N)["rel_improvement_pct"] == pytest.approx(-5.0)
    assert _cell(result, D, S)["rel_improvement_pct"] == pytest.approx(20.0)
    assert _cell(result, D, N)["rel_improvement_pct"] == pytest.approx(-20.0)
    assert _cell(result, N, D)["rel_improvement_pct"] == pytest.approx(25.0)
    assert bool(_cell(result, S, D)["higher_is_better"]) is True
    assert bool(_cell(result, D, S)["higher_is_better"]) is False
    assert _cell(result, S, D)["metric"] == "miou" and _cell(result, D, S)["metric"] == "l1"


def test_seeds_are_averaged_before_the_formula():
    result = reduce_trials(trials())
    cell = _cell(result, S, D)
    assert cell["value"] == pytest.approx(44.0) and cell["baseline"] == pytest.approx(40.0)
    assert cell["n_seeds"] == 2 and cell["value_std"] == pytest.approx(1.0)  # ddof 0
    base = _cell(result, S, None)
    assert base["value"] == pytest.approx(40.0) and math.isnan(base["rel_improvement_pct"])


def test_missing_cell_is_nan_not_zero_and_counted_missing():
    result = reduce_trials(trials())
    missing = _cell(result, N, S)
    assert math.isnan(missing["value"]) and math.isnan(missing["rel_improvement_pct"])
    assert missing["n_seeds"] == 0
    pairs = result[result["aux_task"].notna()]
    assert len(pairs) == 6 and len(result) == 9
    summary = summarize(result)["clean"]
    assert summary == {
        "improved": 3,
        "total": 5,
        "missing": 1,
        "mean_rel_improvement_pct": pytest.approx((10 - 5 + 20 - 20 + 25) / 5),
    }
    line = summary_line(summarize(result))
    assert line == "clean: improved 3/5 cells, mean +6.00 % (1 missing)"


def test_row_means_skip_missing_cells():
    means = row_means(reduce_trials(trials())).set_index("main_task")
    assert means.loc[S, "mean_rel_improvement_pct"] == pytest.approx(2.5)
    assert means.loc[D, "mean_rel_improvement_pct"] == pytest.approx(0.0)
    assert means.loc[N, "mean_rel_improvement_pct"] == pytest.approx(25.0)
    assert means.loc[N, "n_cells"] == 1


def test_missing_baseline_leaves_its_row_without_improvements():
    t = trials()
    t = t[~((t["main_task"] == D) & (t["aux_tasks"] == ""))]
    result = reduce_trials(t)
    assert math.isnan(_cell(result, D, S)["rel_improvement_pct"])
    assert _cell(result, D, S)["value"] == pytest.approx(0.4)
    assert _cell(result, S, D)["rel_improvement_pct"] == pytest.approx(10.0)


def test_parquet_round_trip_keeps_table_and_summary(tmp_path):
    result = reduce_trials(trials())
    path = write_result(result, tmp_path / "deep" / "fig7.parquet")
    pd.testing.assert_frame_equal(read_result(path), result, check_dtype=False)
    assert read_summary(path) == summarize(result)
    assert read_summary(path)["clean"]["mean_rel_improvement_pct"] == pytest.approx(6.0)
    assert not list((tmp_path / "deep").glob(".*tmp"))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns=["metric"]), "lacks column.*metric"),
        (lambda t: t.iloc[0:0], "empty"),
        (lambda t: t.assign(task="bogus", main_task="bogus"), "bogus"),
        (lambda t: t.assign(seed="x"), "seed"),
    ],
)
def test_bad_tables_raise_one_clear_error(change, message):
    with pytest.raises(ReduceError, match=message):
        reduce_trials(change(trials()))


def test_garbage_file_names_itself(tmp_path):
    bad = tmp_path / "trials.parquet"
    bad.write_bytes(b"this is not parquet at all")
    with pytest.raises(ReduceError, match="trials.parquet.*not a readable Parquet"):
        load_trials_table(bad)
    good = tmp_path / "ok.parquet"
    trials().to_parquet(good)
    assert len(load_trials_table(good)) == len(trials())
