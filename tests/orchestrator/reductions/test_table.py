"""Shared reduction pieces: the trials-table check, seed statistics, model labels, files."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from orchestrator.reductions.naming import eval_eps, eval_order, model_label, models_of
from orchestrator.reductions.table import (
    TRIALS_COLUMNS,
    ReduceError,
    benjamini_hochberg,
    check_trials,
    load_trials_table,
    over_seeds,
    read_result_table,
    read_summary,
    relative_improvement,
    write_result_table,
)
from tasks.errors import MtsweepError
from tests.orchestrator.reductions.conftest import D, S, trial_row


def test_an_old_table_gets_every_column_and_one_model_per_pair(fig7_trials):
    checked = check_trials(fig7_trials)
    assert tuple(checked.columns) == TRIALS_COLUMNS
    assert (checked["arch"] == "").all() and (checked["weights"] == "").all()
    assert len(models_of(checked, "taskonomy")) == 8  # 3 baselines + 5 pairs


def test_relative_improvement_signs_and_unknowns():
    assert relative_improvement(44.0, 40.0, True) == pytest.approx(10.0)
    assert relative_improvement(0.4, 0.5, False) == pytest.approx(20.0)
    assert math.isnan(relative_improvement(1.0, 0.0, True))
    assert math.isnan(relative_improvement(math.nan, 1.0, True))


def test_over_seeds_weighs_each_seed_once():
    rows = pd.DataFrame(
        [
            trial_row(S, "", 0, "clean", "miou", 10.0),
            trial_row(S, "", 0, "clean", "miou", 30.0),  # seed 0 logged twice: mean 20
            trial_row(S, "", 1, "clean", "miou", 40.0),
        ]
    )
    (row,) = over_seeds(check_trials(rows), ["main_task"]).itertuples()
    assert row.value == pytest.approx(30.0) and row.n_seeds == 2
    assert row.value_std == pytest.approx(math.sqrt(200))  # ddof 1 over 20, 40


def test_labels_grow_only_where_models_share_letters():
    rows = pd.DataFrame(
        [
            trial_row(S, "", 0, "clean", "miou", 1.0, weights={S: 1.0}, arch="r"),
            trial_row(S, D, 0, "clean", "miou", 1.0, weights={S: 1.0, D: 0.1}, arch="r"),
            trial_row(S, D, 0, "clean", "miou", 1.0, weights={S: 1.0, D: 0.01}, arch="r"),
            trial_row(D, "", 0, "clean", "l1", 1.0, weights={D: 1.0}, arch="r"),
            trial_row(D, "", 0, "clean", "l1", 1.0, weights={D: 1.0}, arch="drn"),
            trial_row(f"{S}+{D}", "", 0, "clean", "l1", 1.0, D, weights={S: 0.5, D: 0.5}, arch="r"),
        ]
    )
    labels = models_of(check_trials(rows), "taskonomy")["model"].tolist()
    assert labels == ["s", "d [drn]", "d [r]", "sd λ=0.01", "sd λ=0.1", "sd w=s:0.5,d:0.5"]


def test_same_letters_without_weights_still_get_distinct_labels():
    rows = pd.DataFrame(
        [
            trial_row(S, D, 0, "clean", "miou", 1.0),
            trial_row(f"{S}+{D}", "", 0, "clean", "miou", 1.0),
        ]
    )
    assert models_of(check_trials(rows), "taskonomy")["model"].tolist() == ["sd #1", "sd #2"]


def test_names_parsed_from_eval_names():
    assert model_label("cityscapes", "segment_semantic", "depth+autoencoder") == "sdA"
    assert model_label("cityscapes", "depth", "autoencoder+segment_semantic") == "dAs"
    assert eval_eps("clean") == 0 and eval_eps("pgd20_eps16_mt") == 16
    assert math.isnan(eval_eps("vulnerability"))
    names = ["houdini100_eps4", "pgd100_eps4", "mim100_eps4", "pgd10_eps4", "clean", "fgsm_eps4"]
    assert sorted(names, key=eval_order) == [
        "clean",
        "fgsm_eps4",
        "pgd10_eps4",
        "pgd100_eps4",
        "mim100_eps4",
        "houdini100_eps4",
    ]


def test_result_table_round_trip_keeps_table_and_summary(tmp_path):
    table = pd.DataFrame({"eval": ["clean"], "value": [1.5], "significant": [True]})
    path = write_result_table(table, tmp_path / "deep" / "t.parquet", "clean: improved 1/1 cells")
    pd.testing.assert_frame_equal(read_result_table(path), table)
    assert read_summary(path) == "clean: improved 1/1 cells"
    assert not list((tmp_path / "deep").glob(".*tmp"))


def test_reduce_error_is_a_user_error_and_bad_files_name_themselves(tmp_path, fig7_trials):
    assert issubclass(ReduceError, MtsweepError)
    bad = tmp_path / "trials.parquet"
    bad.write_bytes(b"this is not parquet at all")
    with pytest.raises(ReduceError, match="trials.parquet.*not a readable Parquet"):
        load_trials_table(bad)
    with pytest.raises(ReduceError, match="does not exist"):
        read_summary(tmp_path / "nothing.parquet")
    good = tmp_path / "ok.parquet"
    fig7_trials.assign(weights=json.dumps({S: 1.0})).to_parquet(good)
    assert len(load_trials_table(good)) == len(fig7_trials)


def test_benjamini_hochberg_by_hand_and_against_scipy():
    # m = 5: p·m/rank = .05, .05, .05, .075, .5; then the running minimum from the top
    p = [0.01, 0.02, 0.03, 0.06, 0.5]
    assert benjamini_hochberg(p) == pytest.approx([0.05, 0.05, 0.05, 0.075, 0.5])
    assert benjamini_hochberg([0.5, 0.01]) == pytest.approx([0.5, 0.02])  # input order kept
    rng = np.random.default_rng(0)
    for size in (1, 7, 110):
        p = rng.uniform(size=size) ** 3
        assert benjamini_hochberg(p) == pytest.approx(stats.false_discovery_control(p))


def test_benjamini_hochberg_skips_cells_without_a_test():
    adjusted = benjamini_hochberg([0.01, math.nan, 0.04])
    assert math.isnan(adjusted[1]) and adjusted[[0, 2]] == pytest.approx([0.02, 0.04])
    assert np.isnan(benjamini_hochberg([math.nan, math.nan])).all()
    assert benjamini_hochberg([]).shape == (0,)
