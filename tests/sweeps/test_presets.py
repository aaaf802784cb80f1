"""Typed preset blocks: defaults in one place, typos and wrong types refused by dotted key."""

from __future__ import annotations

import pytest

from sweeps.definition import load_sweep
from sweeps.presets import (
    DataConfig,
    SweepError,
    TrainConfig,
    apply_overrides,
    parse_block,
    parse_override,
)


def test_a_block_takes_defaults_and_converts_numbers():
    cfg = parse_block(TrainConfig, {"epochs": 3, "lr": 1}, "presets.x.train")
    assert cfg.epochs == 3 and cfg.lr == 1.0 and isinstance(cfg.lr, float)
    assert cfg.batch_size == TrainConfig().batch_size
    assert parse_block(DataConfig, None, "data") == DataConfig()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"epoch": 3}, "presets.x.train.epoch: unknown key (did you mean 'epochs'?)"),
        ({"epochs": -1}, "presets.x.train.epochs: expected an integer >= 0, got -1"),
        ({"batch_size": 0}, "presets.x.train.batch_size: expected an integer >= 1, got 0"),
        ({"epochs": True}, "presets.x.train.epochs: expected an integer"),
        ({"lr": float("nan")}, "presets.x.train.lr: expected a number"),
        ({"optimizer": "adamw"}, "presets.x.train.optimizer: expected 'adam' or 'sgd'"),
        ({"lr_schedule": [[0, "fast"]]}, "presets.x.train.lr_schedule: expected"),
        ("fast", "presets.x.train: expected a mapping"),
    ],
)
def test_a_wrong_key_or_type_names_the_dotted_key(raw, message):
    with pytest.raises(SweepError) as e:
        parse_block(TrainConfig, raw, "presets.x.train")
    assert message in str(e.value)


def test_overrides_are_parsed_as_yaml_and_written_into_a_copy():
    preset = {"train": {"epochs": 6}, "data": {"n": 96}}
    out = apply_overrides(
        preset, ["train.epochs=3", "model.width=16", "train.lr_schedule=[[0, 0.1]]"], "p"
    )
    assert out["train"] == {"epochs": 3, "lr_schedule": [[0, 0.1]]}
    assert out["model"] == {"width": 16} and out["data"] == {"n": 96}
    assert preset == {"train": {"epochs": 6}, "data": {"n": 96}}  # the sweep's own is untouched
    assert parse_override("train.amp=true") == (["train", "amp"], True)
    with pytest.raises(SweepError, match="expected KEY=VALUE"):
        parse_override("=3")


def test_an_override_changes_identity_exactly_like_the_same_yaml_edit(sweep_yaml):
    by_set = load_sweep("taskonomy-pairs").expand("smoke", overrides=["train.epochs=5"])
    raw = load_sweep("taskonomy-pairs").presets["smoke"]["train"]
    edited = sweep_yaml({"presets.smoke.train": {**raw, "epochs": 5}}, base="taskonomy-pairs")
    by_yaml = load_sweep(str(edited)).expand("smoke")
    assert [s.trial_key for s in by_set] == [s.trial_key for s in by_yaml]
    plain = load_sweep("taskonomy-pairs").expand("smoke")
    assert {s.trial_key for s in plain}.isdisjoint(s.trial_key for s in by_set)


def test_the_resolved_preset_fills_every_default():
    resolved = load_sweep("taskonomy-pairs").resolved("paper")
    assert resolved["train"]["epochs"] == 150
    assert resolved["train"]["momentum"] == TrainConfig().momentum  # a default, filled in
    assert resolved["resources"]["gpus_per_trial"] == 0.25
    assert "output_dim" not in resolved  # a sweep-level block this sweep does not have
