"""Training, a trial's first half: it learns, it resumes exactly, it stops on a NaN."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from models import build_model
from orchestrator.trial.checkpoints import load_checkpoint, save_checkpoint
from orchestrator.trial.data import ensure_data, open_split
from orchestrator.trial.training import TrainingDiverged, train_model
from sweeps.definition import load_sweep
from sweeps.presets import DataConfig, TrainConfig
from tasks.registry import parse_tasks

DATA = DataConfig(n=24, size=16, seed=0)
TASKS = parse_tasks("taskonomy", "dn")
WEIGHTS = {"depth_zbuffer": 1.0, "normal": 0.1}
CFG = TrainConfig(epochs=4, batch_size=8, optimizer="adam", lr=3e-3)


@pytest.fixture(scope="module")
def train_set():
    return open_split("taskonomy", ensure_data("taskonomy", DATA), DATA, TASKS, "train")


def fresh_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("resnet18", TASKS, width=8)


def train(train_set, ckpt_dir, cfg=CFG, model=None, **kw):
    model = model or fresh_model()
    out = train_model(
        model, TASKS, WEIGHTS, train_set, cfg, ckpt_dir, torch.device("cpu"), seed=0, **kw
    )
    return model, out


def test_training_lowers_the_loss(train_set, tmp_path):
    # Ten epochs end at 0.68-0.73 of the first epoch's loss with 1 or 2 torch threads:
    # 0.85 leaves a margin that thread-count noise does not eat.
    _, out = train(train_set, tmp_path, dataclasses.replace(CFG, epochs=10))
    assert len(out.history) == 10 and out.resumed_from_epoch == 0
    assert out.history[-1] < 0.85 * out.history[0]


def test_continued_after_a_restart_ends_with_the_same_weights(train_set, tmp_path):
    whole, _ = train(train_set, tmp_path / "whole")
    train(train_set, tmp_path / "cut", dataclasses.replace(CFG, epochs=2))  # "killed" after 2
    resumed, out = train(train_set, tmp_path / "cut")  # a new process: fresh model, same dir
    assert out.resumed_from_epoch == 2 and len(out.history) == 4
    for (name, a), b in zip(whole.state_dict().items(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_a_nan_loss_stops_with_a_clear_error(train_set, tmp_path):
    model = fresh_model()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="epoch 0 step 0.*learning rate"):
        train(train_set, tmp_path, model=model)
    assert load_checkpoint(tmp_path) is None  # nothing NaN was kept to resume from


def test_checkpoint_interval_keeps_the_last_epoch(train_set, tmp_path):
    saved = []
    cfg = dataclasses.replace(CFG, epochs=3, checkpoint_every_s=3600)
    train(
        train_set,
        tmp_path,
        cfg,
        on_epoch=lambda epoch, loss: saved.append((load_checkpoint(tmp_path) or {}).get("epoch")),
    )
    assert saved == [None, None, 3]  # only the final epoch was written
    every = tmp_path / "every"
    saved.clear()
    train(
        train_set,
        every,
        dataclasses.replace(CFG, epochs=3),
        on_epoch=lambda epoch, loss: saved.append(load_checkpoint(every)["epoch"]),
    )
    assert saved == [1, 2, 3]


def test_checkpoint_interval_does_not_change_what_a_trial_is():
    spec = load_sweep("taskonomy-pairs").expand("smoke")[0]
    other = dataclasses.replace(spec, train={**spec.train, "checkpoint_every_s": 1.0})
    assert other.trial_key == spec.trial_key and other.model_key == spec.model_key
    longer = dataclasses.replace(spec, train={**spec.train, "epochs": 99})
    assert longer.trial_key != spec.trial_key and longer.model_key != spec.model_key


def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    save_checkpoint(tmp_path, {"epoch": 1})
    save_checkpoint(tmp_path, {"epoch": 2})
    assert load_checkpoint(tmp_path)["epoch"] == 2
    (tmp_path / "latest.pt").write_bytes(b"torn write")
    assert load_checkpoint(tmp_path)["epoch"] == 1
    assert not list(tmp_path.glob("*.tmp"))  # no temporary file left behind


def test_a_relative_init_from_is_looked_up_in_the_data_root(tmp_path):
    from orchestrator.trial.run import weights_path
    from sweeps.presets import ModelConfig

    assert weights_path(ModelConfig(), tmp_path) is None
    assert weights_path(ModelConfig(init_from="drn.pth"), tmp_path) == tmp_path / "drn.pth"
    absolute = tmp_path / "elsewhere" / "drn.pth"
    assert weights_path(ModelConfig(init_from=str(absolute)), tmp_path / "data") == absolute


def test_an_equal_weight_training_attack_trains_another_model(train_set, tmp_path):
    """weights: equal sums the tasks' losses unweighted (the authors' multitask attack);
    'model' weighs normal at its λ 0.1, so the attack, and the model it trains, differ."""
    cfg = dataclasses.replace(CFG, epochs=1, max_steps_per_epoch=1)
    adv = {"adversarial_eval": "pgd1_eps8_mt", "attacked": TASKS}
    by_model, _ = train(train_set, tmp_path / "m", cfg, **adv)
    equal, _ = train(train_set, tmp_path / "e", cfg, adversarial_weights="equal", **adv)
    # training is deterministic (test_continued_after_a_restart_…): a difference is the attack
    pairs = zip(by_model.parameters(), equal.parameters(), strict=True)
    assert not all(torch.equal(a, b) for a, b in pairs)
