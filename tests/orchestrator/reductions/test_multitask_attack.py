"""Fig. 5 and Fig. 4c on a hand-built multitask-attack trials table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from attacks.measures import GRAD_NORM, JOINT, VULNERABILITY
from orchestrator.reductions import multitask_attack, reduce_to
from orchestrator.reductions.table import ReduceError
from tests.helpers.trial_tables import is_picture, trial_row

SEG, DEPTH_Z, NORMAL = "segment_semantic", "depth_zbuffer", "normal"
MODELS = {"s": [SEG], "sd": [SEG, DEPTH_Z], "sdn": [SEG, DEPTH_Z, NORMAL]}


def one(table: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= table[column] == value
    assert mask.sum() == 1, (where, table[mask])
    return table[mask].iloc[0]


def multitask_trials(models=MODELS, **identity) -> pd.DataFrame:
    rows = []
    for label, tasks in models.items():
        main = "+".join(tasks)
        for seed in (0, 1):
            for ev, eps in (("clean", 0), ("pgd5_eps1_mt", 1), ("pgd8_eps4_mt", 4)):
                for i, task in enumerate(tasks):
                    metric = "miou" if task == SEG else "l1"
                    value = 50 - 5 * eps + len(tasks) + i + seed * 2
                    rows.append(trial_row(main, "", seed, ev, metric, value, task, **identity))
                    if task != SEG:  # not a primary metric
                        rows.append(trial_row(main, "", seed, ev, "rmse", 99.0, task, **identity))
            # a single-task attack is not part of Fig. 5
            rows.append(trial_row(main, "", seed, "pgd50_eps4", "miou", -1.0, SEG, **identity))
            norm = {"s": 0.8, "sd": 0.6, "sdn": 0.5}[label] + 0.1 * seed
            rows.append(
                trial_row(main, "", seed, VULNERABILITY, GRAD_NORM, norm, JOINT, **identity)
            )
            rows.append(trial_row(main, "", seed, VULNERABILITY, GRAD_NORM, 7.0, SEG, **identity))
    return pd.DataFrame(rows)


def test_averages_seeds_and_keeps_primary_metrics_of_trained_tasks():
    table = multitask_attack.reduce(multitask_trials(), "taskonomy")
    row = one(table, model="sd", eval="pgd8_eps4_mt", task=DEPTH_Z)
    assert row["value"] == pytest.approx(34.0)  # seeds: 50 - 20 + 2 + 1 = 33 and 35
    assert row["value_std"] == pytest.approx(np.std([33, 35], ddof=1))
    assert row["n_seeds"] == 2 and row["metric"] == "l1" and not row["higher_is_better"]
    assert row["eps"] == 4
    assert one(table, model="s", eval="clean", task=SEG)["higher_is_better"]
    assert one(table, model="s", eval="clean", task=SEG)["eps"] == 0
    assert set(table["eval"]) == {"clean", "pgd5_eps1_mt", "pgd8_eps4_mt", VULNERABILITY}
    assert set(table["metric"]) == {"miou", "l1", GRAD_NORM}
    assert not ((table["model"] == "s") & (table["task"] == DEPTH_Z)).any()
    assert len(table) == 3 * 6 + 3  # 3 evals x (1 + 2 + 3) tasks, one norm per model
    norms = multitask_attack.joint_norms(table)
    assert list(norms["model"]) == ["s", "sd", "sdn"]
    assert norms["value"].tolist() == pytest.approx([0.85, 0.65, 0.55])
    assert norms["eps"].isna().all()


def test_models_of_two_architectures_are_never_averaged():
    trials = pd.concat(
        [multitask_trials(arch="resnet18"), multitask_trials(arch="drn").assign(value=1.0)]
    )
    table = multitask_attack.reduce(trials, "taskonomy")
    norms = multitask_attack.joint_norms(table)
    assert sorted(norms["model"]) == sorted(
        f"{m} [{a}]" for m in MODELS for a in ("drn", "resnet18")
    )
    assert one(norms, model="sd [resnet18]")["value"] == pytest.approx(0.65)
    assert one(norms, model="sd [drn]")["value"] == pytest.approx(1.0)


def test_the_summary_follows_the_nested_models_not_the_single_task_ones():
    trials = multitask_trials()
    extra = pd.DataFrame([trial_row(DEPTH_Z, "", 0, VULNERABILITY, GRAD_NORM, 0.01, JOINT)])
    table = multitask_attack.reduce(pd.concat([trials, extra]), "taskonomy")
    assert multitask_attack.nested_chain(multitask_attack.joint_norms(table)) == ["s", "sd", "sdn"]
    assert multitask_attack.summary(table) == (
        "joint-gradient norm s→sd→sdn: 0.85 → 0.55 (falls at 2 of 2 added tasks)"
    )


def test_pictures_and_reduce_to(tmp_path):
    trials = multitask_trials()
    table = multitask_attack.reduce(trials, "taskonomy")
    pictures = multitask_attack.draw(table, tmp_path / "a")
    assert [p.name for p in pictures] == ["fig5.png", "fig4c.png"]
    assert all(is_picture(p) for p in pictures)

    paths, summary = reduce_to(
        trials,
        "multitask_attack",
        "taskonomy",
        tmp_path / "b/multitask_attack.parquet",
        tmp_path / "b",
    )
    assert sorted(p.name for p in paths) == ["fig4c.png", "fig5.png", "multitask_attack.parquet"]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "b/multitask_attack.parquet"), table)
    assert summary == multitask_attack.summary(table)


def test_without_norms_fig4c_is_skipped(tmp_path):
    trials = multitask_trials()
    trials = trials[trials["eval"] != VULNERABILITY]
    table = multitask_attack.reduce(trials, "taskonomy")
    assert [p.name for p in multitask_attack.draw(table, tmp_path)] == ["fig5.png"]
    assert multitask_attack.summary(table) == "3 models reduced; no joint-gradient norm was logged"


def test_bad_tables_raise_reduce_error():
    trials = multitask_trials()
    with pytest.raises(ReduceError, match="lacks column.*metric"):
        multitask_attack.reduce(trials.drop(columns="metric"), "taskonomy")
    with pytest.raises(ReduceError, match="empty"):
        multitask_attack.reduce(trials.iloc[:0], "taskonomy")
    with pytest.raises(ReduceError, match="has no"):
        multitask_attack.reduce(trials.assign(eval="something_else"), "taskonomy")
