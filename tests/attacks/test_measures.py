"""The Fig. 4 measures: their producers on a tiny net, and their names both ways."""

from __future__ import annotations

import pytest

from attacks.measures import (
    MEASURES,
    NoSettings,
    OutputDimConfig,
    grad_norm_metric,
    outdim_acc_metric,
    outdim_eval,
    parse_outdim_acc,
    parse_outdim_eval,
)
from attacks.vulnerability import joint_gradient_norm, subset_gradient_norm
from sweeps.presets import parse_block
from tasks.errors import MtsweepError
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
    out = MEASURES["grad_norm"].compute(random_net, _batches, [SEG, DEPTH], [SEG], NoSettings(), 0)
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


def test_output_dim_measure_on_the_first_attacked_task(random_net):
    config = OutputDimConfig(ks=(1, 16, 10_000), draws=2, attacks=("fgsm_eps4",))
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


def test_each_measure_declares_its_settings_checked_as_a_block():
    def parse(name, raw):
        return parse_block(MEASURES[name].settings, raw, f"measures.{name}")

    assert parse("output_dim", {}) == OutputDimConfig(draws=20, ks=(1, 16, 256), attacks=())
    assert parse("output_dim", {"ks": [4]}).ks == (4,)
    assert parse("grad_norm", None) == NoSettings()
    refused = {
        ("output_dim", "kz"): "measures.output_dim.kz: unknown key .valid keys: attacks, draws, ks",
        ("output_dim", "ks"): "measures.output_dim.ks: expected a list of an integer >= 1",
        ("output_dim", "attacks"): "measures.output_dim.attacks: .*pgd_eps4",
        ("grad_norm", "draws"): "measures.grad_norm.draws: unknown key",
    }
    values = {"kz": [1], "ks": [4, 0], "attacks": ["pgd_eps4"], "draws": 2}
    for (name, key), message in refused.items():
        with pytest.raises(MtsweepError, match=message):
            parse(name, {key: values[key]})
