"""Fig. 4a–b on a hand-built output-dimensionality trials table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from attacks.measures import GRAD_NORM, outdim_acc_metric, outdim_eval
from orchestrator.reductions import output_dim, reduce_to
from orchestrator.reductions.table import ReduceError
from tests.helpers.trial_tables import is_picture, trial_row

SEG = "segment_semantic"


def output_dim_trials(**identity) -> pd.DataFrame:
    rows = []
    for seed in (0, 1):
        for k in (16, 1, 4096, 4):  # out of order on purpose; "16" < "4" as strings
            ev = outdim_eval(k)
            norm = 10 / math.sqrt(k) + seed
            rows.append(trial_row(SEG, "", seed, ev, GRAD_NORM, norm, **identity))
            for attack, base in (("fgsm_eps4", 20), ("pgd5_eps4", 5)):
                acc = base + math.log2(k)
                rows.append(
                    trial_row(SEG, "", seed, ev, outdim_acc_metric(attack), acc, **identity)
                )
        rows.append(trial_row(SEG, "", seed, "clean", "miou", 40.0, **identity))
    return pd.DataFrame(rows)


def test_sorted_by_k_with_seed_means():
    table = output_dim.reduce(output_dim_trials(), "cityscapes")
    norms = table[table["metric"] == GRAD_NORM]
    assert norms["k"].tolist() == [1, 4, 16, 4096]
    assert norms["value"].tolist() == pytest.approx([10.5, 5.5, 3.0, 10 / 64 + 0.5])
    assert (norms["n_seeds"] == 2).all()
    assert norms["value_std"].tolist() == pytest.approx([np.std([0, 1], ddof=1)] * 4)
    acc = table[table["metric"] == "fgsm_eps4_acc"]
    assert acc["value"].tolist() == pytest.approx([20, 22, 24, 32])
    assert set(table["metric"]) == {GRAD_NORM, "fgsm_eps4_acc", "pgd5_eps4_acc"}


def test_two_models_keep_their_own_curves():
    trials = pd.concat(
        [
            output_dim_trials(arch="drn"),
            output_dim_trials(arch="resnet18").assign(value=lambda t: t["value"] * 2),
        ]
    )
    table = output_dim.reduce(trials, "cityscapes")
    norms = table[(table["metric"] == GRAD_NORM) & (table["k"] == 1)].set_index("model")
    assert norms.loc["s [drn]", "value"] == pytest.approx(10.5)
    assert norms.loc["s [resnet18]", "value"] == pytest.approx(21.0)
    assert output_dim.summary(table).startswith("s [drn]: grad norm k=1→4096: 10.5 → 0.656; ")


def test_pictures_and_reduce_to(tmp_path):
    trials = output_dim_trials()
    pictures = output_dim.draw(output_dim.reduce(trials, "cityscapes"), tmp_path / "a")
    assert [p.name for p in pictures] == ["fig4a.png", "fig4b.png"]
    assert all(is_picture(p) for p in pictures)
    paths, summary = reduce_to(
        trials, "output_dim", "cityscapes", tmp_path / "b/output_dim.parquet", tmp_path / "b"
    )
    assert sorted(p.name for p in paths) == ["fig4a.png", "fig4b.png", "output_dim.parquet"]
    assert summary == "grad norm k=1→4096: 10.5 → 0.656"


def test_bad_tables_raise_reduce_error():
    trials = output_dim_trials()
    with pytest.raises(ReduceError, match="lacks column.*metric"):
        output_dim.reduce(trials.drop(columns="metric"), "cityscapes")
    with pytest.raises(ReduceError, match="has no `outdim_k<k>` rows"):
        output_dim.reduce(trials.assign(eval="something_else"), "cityscapes")
