"""``estimate`` predicts what a trial costs, step for step, and says it readably.

Time is read from a fake clock that advances by one unit per forward pass of a multitask
model, so the steps the estimate times and counts are compared with the steps a real trial
takes, exactly, whatever else runs on the machine.
"""

from __future__ import annotations

import dataclasses
import functools
from contextlib import contextmanager

import pytest
import torch

from orchestrator.cli import main
from orchestrator.sweep import estimate as estimate_module
from orchestrator.sweep.accelerators import get_accelerator
from orchestrator.sweep.estimate import duration, estimate, slots_of
from orchestrator.sweep.plan import Request, make_plan
from orchestrator.trial.run import run_trial
from orchestrator.trial.step_cost import count_trial_steps
from orchestrator.trial.timing import time_steps
from tasks.datasets import get_dataset
from tests.helpers.sweep_files import TINY_SWEEP

UNIT = 0.01  # fake seconds per forward pass
BUDGET = (
    "data.size=16",
    "data.n=40",
    "model.width=8",
    "train.epochs=2",
    "evaluation.n_images=8",
)


def plan(tmp_path, tasks=("d",), overrides=BUDGET, preset="smoke"):
    request = Request(sweep=str(TINY_SWEEP), preset=preset, tasks=tasks, overrides=overrides)
    return make_plan(request, out=tmp_path / "out", require_data=False)


@contextmanager
def forward_clock():
    """A clock reading UNIT seconds per forward pass of a multitask model (one whose output
    is a dict of task outputs) since it started."""
    calls = [0]

    def count(module, inputs, output):
        if isinstance(output, dict):
            calls[0] += 1

    handle = torch.nn.modules.module.register_module_forward_hook(count)
    try:
        yield lambda: calls[0] * UNIT
    finally:
        handle.remove()


def test_a_step_is_timed_as_one_step_of_the_trials_own_loops(tmp_path):
    torch.set_num_threads(1)
    (spec,) = plan(tmp_path).specs
    with forward_clock() as clock:
        times = time_steps(spec, torch.device("cpu"), steps=2, clock=clock)
    # one forward per training step, per attack step, per evaluation batch; no warm-up
    assert list(vars(times).values()) == pytest.approx([UNIT, UNIT, UNIT, 0.0])
    # adversarial training: the attack's steps (pgd2) run inside each training step
    adversarial = plan(tmp_path, overrides=(*BUDGET, "adversarial.eval=pgd2_eps4")).specs[0]
    with forward_clock() as clock:
        times = time_steps(adversarial, torch.device("cpu"), steps=2, clock=clock)
    assert times.train == pytest.approx(3 * UNIT)


def test_the_estimate_counts_the_steps_a_trial_takes(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    p = plan(tmp_path)
    with forward_clock() as clock:
        monkeypatch.setattr(
            estimate_module, "time_steps", functools.partial(time_steps, clock=clock)
        )
        predicted = estimate(p, steps=2)
    with forward_clock() as clock:
        run_trial(p.specs[0], tmp_path / "store", threads=1)
        taken = clock()
    (cost,) = predicted.trials
    n_train = predicted.counts["train"][0]
    assert cost.train_steps == 2 * (n_train // 8)  # epochs × full batches of 8
    # the trial's forwards are the estimate's, plus the two of its prediction picture
    assert round(taken / UNIT) == round(predicted.device_s / UNIT) + 2


def test_step_time_scales_with_epochs_images_and_attack_steps(tmp_path):
    p = plan(tmp_path, tasks=("s", "d"), overrides=(), preset="paper")
    e = estimate(p, gpus=4, step_time=0.5)
    sizes = get_dataset("taskonomy").split_sizes
    n_train, n_val = sizes["train"][0], sizes["val"][0]
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


def test_trials_that_fit_side_by_side_on_cpus_share_the_wall_time(tmp_path):
    e = estimate(plan(tmp_path, tasks=("s", "d"), overrides=(), preset="paper"), step_time=0.5)
    jobs = [c.train_s + c.eval_s for c in e.trials]  # 4 models, one trial each
    on = {
        (cpus, per_trial): dataclasses.replace(e, slots=slots_of("cpu", 1, 0.0, cpus, per_trial))
        for cpus, per_trial in [(1, 1.0), (4, 1.0), (4, 2.0)]
    }
    assert on[(1, 1.0)].wall_s == pytest.approx(sum(jobs))
    assert on[(4, 1.0)].wall_s == pytest.approx(max(jobs))
    assert on[(4, 2.0)].slots.count == 2
    assert on[(4, 2.0)].wall_s == pytest.approx(max(jobs[0] + jobs[3], jobs[1] + jobs[2]))
    # a quarter of a GPU each: four per card, each four times slower
    quarter = slots_of("cuda", 1, 0.25, 16, 1.0)
    assert (quarter.count, quarter.slowdown) == (4, 4.0) and "4× slower" in quarter.described


def test_durations_read_as_seconds_minutes_or_hours():
    assert [duration(s) for s in (0.0123, 13, 89, 250, 3000, 5400 * 2, 1791 * 3600)] == [
        "0.012 s",
        "13 s",
        "89 s",
        "4.2 min",
        "50 min",
        "3 h",
        "1791 h",
    ]


def test_cli_summarises_per_kind_of_model_and_packs_trials_on_cpus(tmp_path, capsys):
    base = ["estimate", str(TINY_SWEEP), "--preset", "paper", "--step-time", "0.2"]
    assert main([*base, "--gpus", "2"]) == 0
    out = capsys.readouterr().out
    assert "GPU-hours" in out and "on 2 GPU(s)" in out and "235000 samples" in out
    # one line per kind of model, not per trial: 3 baselines, 6 pairs
    assert "resnet18 with 1 task(s): 3 model(s), 3 trial(s)" in out
    assert "resnet18 with 2 task(s): 6 model(s), 6 trial(s)" in out
    assert len(out.splitlines()) < 12
    # timed on this CPU: as many trials side by side as their CPU booking fits
    smoke = ["estimate", str(TINY_SWEEP), "--tasks", "d", "--steps", "1"]
    walls = {}
    for cpus in (1, 2):
        assert (
            main(
                [*smoke, *[a for s in BUDGET for a in ("--set", s)], "--seeds", "0,1"]
                + ["--cpus", str(cpus)]
            )
            == 0
        )
        out = capsys.readouterr().out
        assert f"on {cpus} CPU(s) at 1 per trial: {cpus} side by side" in out
        walls[cpus] = out.splitlines()[-1]
    assert "s of CPU time (2 models trained" in walls[1]


def test_a_device_prediction_is_the_counted_flops_at_a_share_of_the_peak(tmp_path):
    p = plan(tmp_path, tasks=("s", "d"), overrides=(), preset="paper")
    h100 = get_accelerator("h100")
    half, full = (estimate(p, gpus=8, accelerator=h100, efficiency=f) for f in (0.5, 1.0))
    # each kind of model (architecture, task count) is counted once, on its first trial
    firsts = {}
    for spec, cost in zip(p.specs, half.trials, strict=True):
        firsts.setdefault(len(spec.train_tasks), (spec, cost))
    assert sorted(firsts) == [1, 2]
    for spec, cost in firsts.values():
        counted = count_trial_steps(spec)
        peak = h100.peak_flops(spec.config.train.amp)
        assert cost.train_s == pytest.approx(cost.train_steps * counted.train_flops / (peak * 0.5))
    assert half.device_s == pytest.approx(2 * full.device_s)  # twice the share, half the time
    assert half.kind == "GPU" and "predicted for NVIDIA H100" in half.report()


def test_cli_predicts_for_a_named_device_and_refuses_an_unknown_one(tmp_path, capsys):
    base = ["estimate", str(TINY_SWEEP), "--preset", "paper", "--gpus", "8"]
    assert main([*base, "--device", "h100"]) == 0
    out = capsys.readouterr().out
    assert "nothing timed: predicted for NVIDIA H100 SXM 80GB" in out
    assert "--gpus-per-trial" in out and "GiB per trial" in out and "GPU-hours" in out
    assert main([*base, "--device", "h10"]) == 2
    err = capsys.readouterr().err
    assert "did you mean 'h100'" in err and len(err.strip().splitlines()) == 1
    assert main([*base, "--device", "h100", "--step-time", "0.2"]) == 2


def test_a_trial_that_only_evaluates_is_timed_and_counted_without_a_training_step(tmp_path):
    torch.set_num_threads(1)
    (spec,) = plan(tmp_path, overrides=(*BUDGET, "train.epochs=0")).specs
    with forward_clock() as clock:
        times = time_steps(spec, torch.device("cpu"), steps=2, clock=clock)
    assert (times.train, times.checkpoint) == (0.0, 0.0)
    assert times.attack == pytest.approx(UNIT) and times.forward == pytest.approx(UNIT)
    cost = count_trial_steps(spec)
    trained = count_trial_steps(plan(tmp_path, overrides=BUDGET).specs[0])
    assert (cost.train_flops, cost.train_bytes) == (0.0, 0)
    assert cost.eval_bytes == trained.eval_bytes > 0


def test_a_model_too_big_for_free_memory_is_timed_at_smaller_batches_or_refused(tmp_path, capsys):
    torch.set_num_threads(1)
    (spec,) = plan(tmp_path, overrides=(*BUDGET, "train.batch_size=8")).specs
    cpu = torch.device("cpu")
    free = estimate_module.free_memory(cpu)
    times, note = estimate_module.time_within_memory("m", spec, cpu, 1, free)
    assert note is None and times.train > 0  # fits as it stands
    # halved batches, timed and scaled back: one forward per step at any batch
    halved = estimate_module.with_batches(spec, 4, 2)
    assert halved.trial_key != spec.trial_key and halved.config.train.batch_size == 4
    with forward_clock() as clock:
        times = estimate_module.scaled(time_steps(halved, cpu, steps=2, clock=clock), halved, spec)
    evaluation = spec.config.evaluation.batch_size / 2
    assert (times.train, times.attack, times.forward) == pytest.approx(
        (2 * UNIT, evaluation * UNIT, evaluation * UNIT)
    )
    # a GPU's time per image depends on the batch: there a model too big is refused at once
    cost = count_trial_steps(spec)
    counted = max(cost.train_bytes, cost.eval_bytes)
    with pytest.raises(estimate_module.EstimateError, match=r"--device h100.*--step-time"):
        estimate_module.time_within_memory("m", spec, torch.device("cuda"), 1, counted - 1)
    # on a CPU nothing fits, down to batch 1: one line, before anything is timed
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(estimate_module, "free_memory", lambda device: 2**20)
        base = ["estimate", str(TINY_SWEEP), "--preset", "paper", "--out", str(tmp_path / "o")]
        assert main(base) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "GiB free" in err
