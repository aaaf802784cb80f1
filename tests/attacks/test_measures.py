"""The Fig. 4 measures: their producers on a tiny net, and their names both ways."""

from __future__ import annotations

import pytest

from attacks.measures import (
    MEASURES,
    OutputDimConfig,
    grad_norm_metric,
    outdim_acc_metric,
    outdim_eval,
    parse_outdim_acc,
    parse_outdim_eval,
)
from attacks.vulnerability import joint_gradient_norm, subset_gradient_norm
from mtsweep.errors import MtsweepError
from tests.attacks.tinymodels import DEPTH, SEG, make_batch


def _batches():
    return [make_batch(2, seed=5), make_batch(2, seed=6)]


def test_names_round_trip():
    assert grad_norm_metric() == "vulnerability/joint/grad_norm"
    assert grad_norm_metric(SEG.name) == "vulnerability/segment_semantic/grad_norm"
    assert [parse_outdim_eval(outdim_eval(k)) for k in (1, 16, 4096)] == [1, 16, 4096]
    assert parse_outdim_eval("outdim_k0") is None and parse_outdim_eval("clean") is None
    assert parse_outdim_acc(outdim_acc_metric("pgd5_eps4")) == "pgd5_eps4"
    assert parse_outdim_acc("grad_norm") is None


def test_grad_norm_measure_gives_the_joint_and_each_tasks_norm(random_net):
    out = MEASURES["grad_norm"].compute(random_net, _batches, [SEG, DEPTH], [SEG], {}, 0)
    assert set(out) == {
        grad_norm_metric(),
        grad_norm_metric(SEG.name),
        grad_norm_metric(DEPTH.name),
    }
    assert out[grad_norm_metric()] == pytest.approx(
        joint_gradient_norm(random_net, _batches(), [SEG, DEPTH])
    )
    assert out[grad_norm_metric(DEPTH.name)] == pytest.approx(
        joint_gradient_norm(random_net, _batches(), [DEPTH])
    )
    with pytest.raises(MtsweepError, match="no settings"):
        MEASURES["grad_norm"].compute(random_net, _batches, [SEG], [SEG], {"draws": 2}, 0)


def test_output_dim_measure_on_the_first_attacked_task(random_net):
    config = {"ks": [1, 16, 10_000], "draws": 2, "attacks": ["fgsm_eps4"]}
    out = MEASURES["output_dim"].compute(
        random_net, _batches, [SEG, DEPTH], [SEG, DEPTH], config, 3
    )
    # 16×16 images: k = 10 000 is skipped
    assert set(out) == {
        f"{outdim_eval(k)}/{SEG.name}/{metric}"
        for k in (1, 16)
        for metric in ("grad_norm", outdim_acc_metric("fgsm_eps4"))
    }
    expected = subset_gradient_norm(random_net, _batches(), SEG, 16, 2, seed=3)
    assert out[f"outdim_k16/{SEG.name}/grad_norm"] == pytest.approx(expected)
    assert all(0 <= v <= 100 for name, v in out.items() if name.endswith("_acc"))


def test_output_dim_config_defaults_and_refusals():
    assert OutputDimConfig.from_dict({}) == OutputDimConfig(draws=20, ks=(1, 16, 256), attacks=())
    assert OutputDimConfig.from_dict({"ks": [4]}).ks == (4,)
    with pytest.raises(MtsweepError, match="unknown key.*kz.*known: draws, ks, attacks"):
        OutputDimConfig.from_dict({"kz": [1]})
    with pytest.raises(MtsweepError, match="at least 1"):
        OutputDimConfig.from_dict({"ks": [0]})
    with pytest.raises(MtsweepError, match="output_dim.attacks"):
        OutputDimConfig.from_dict({"attacks": ["pgd_eps4"]})
