"""``estimate`` predicts what a trial costs: within 30 % of a measured run of the trial."""

from __future__ import annotations

import shutil

import pytest
import torch

from orchestrator.cli import main
from orchestrator.sweep.estimate import KNOWN_COUNTS, estimate
from orchestrator.sweep.plan import Request, make_plan
from orchestrator.trial.run import run_trial
from tests.helpers.sweep_files import TINY_SWEEP

# Enough steps that the per-trial set-up (data, model) is small next to them.
BUDGET = (
    "data.size=32",
    "data.n=48",
    "model.width=16",
    "train.epochs=8",
    "evaluation.n_images=8",
)


def plan(tmp_path, tasks=("d",), overrides=BUDGET, preset="smoke"):
    request = Request(sweep=str(TINY_SWEEP), preset=preset, tasks=tasks, overrides=overrides)
    return make_plan(request, out=tmp_path / "out", require_data=False)


def test_estimate_is_within_30_percent_of_a_measured_trial(tmp_path):
    torch.set_num_threads(1)
    p = plan(tmp_path)
    ratios = []
    for _ in range(2):  # the box is shared: a second pair of measurements if the first strays
        predicted = estimate(p, steps=2)
        shutil.rmtree(tmp_path / "store", ignore_errors=True)
        result = run_trial(p.specs[0], tmp_path / "store", threads=1)
        measured = result.time["train_s"] + result.time["attack_s"]
        ratios.append(predicted.device_s / measured)
        if 0.7 <= ratios[-1] <= 1.3:
            break
    assert 0.7 <= ratios[-1] <= 1.3, ratios
    (cost,) = predicted.trials
    assert cost.train_steps == 8 * (predicted.counts["train"][0] // 8)  # epochs × batches


def test_step_time_scales_with_epochs_images_and_attack_steps(tmp_path):
    p = plan(tmp_path, tasks=("s", "d"), overrides=(), preset="paper")
    e = estimate(p, gpus=4, step_time=0.5)
    n_train = KNOWN_COUNTS[("taskonomy", "tiny", "train")][0]
    n_val = KNOWN_COUNTS[("taskonomy", "tiny", "val")][0]
    for cost in e.trials:
        assert cost.train_steps == 150 * (n_train // 32)
        assert cost.train_s == pytest.approx(cost.train_steps * 0.5, rel=1e-3)
        assert cost.eval_images == n_val
    # clean + pgd3_eps4 at batch 16: a forward and 3 attack steps per batch, per eval
    per_image = 0.5 / 32
    batches = -(-n_val // 16)
    forward, attack = per_image * 16 / 3, per_image * 16 * 2 / 3
    assert e.trials[0].eval_s == pytest.approx(batches * (2 * forward + 3 * attack), rel=1e-6)
    assert e.device_s == pytest.approx(sum(c.train_s + c.eval_s for c in e.trials))
    assert e.wall_s >= e.device_s / 4 * (1 - 1e-9)  # never faster than perfect packing


def test_cli_prints_device_hours_and_wall_time(tmp_path, capsys):
    code = main(
        ["estimate", str(TINY_SWEEP), "--preset", "paper", "--tasks", "d", "--step-time", "0.2"]
        + ["--gpus", "2"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "device-hours" in out and "on 2 device(s)" in out and "235000 samples" in out
