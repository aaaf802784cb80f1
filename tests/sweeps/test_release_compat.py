"""Stores written by release 0.1.0 still resume: trial and model keys have not moved."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from orchestrator.cli import main
from sweeps.definition import load_sweep
from tests.helpers.mlflow_runs import runs_of
from tests.helpers.release_store import unpack_release_store
from tests.helpers.sweep_files import TINY_SWEEP

DATA = Path(__file__).parent / "data"


# Sweeps whose models changed on purpose since 0.1.0 (the authors' per-model λ_a, shared
# out among auxiliary tasks): their trials are other models now, and must have other keys.
CHANGED_MODELS = {"cityscapes-single-task-attack", "cityscapes-adversarial-training"}

# Smoke presets whose budget changed since 0.1.0 so that every task learns
# (docs/results-smoke.md, "Smoke network"): the release's values, set back here, must still
# give the release's keys; a store of the release resumes under them (``--set``).
RELEASE_SMOKE = {
    "taskonomy-pairs": [
        "data={source: synthetic, n: 96, size: 32, seed: 0}",
        "model={width: 8}",
        "train={epochs: 6, batch_size: 16, optimizer: adam, lr: 0.005, checkpoint_every_s: 30}",
        "evaluation={split: val, n_images: 16, batch_size: 16}",
    ],
    "taskonomy-multitask-attack": [
        "data={source: synthetic, n: 96, size: 32, seed: 0}",
        "model={width: 8}",
        "train={epochs: 10, batch_size: 16, optimizer: adam, lr: 0.005, checkpoint_every_s: 30}",
        "evaluation={split: val, n_images: 16, batch_size: 16}",
    ],
    # the depth head started at fyu/drn's draw (no model.regression_head_init)
    **{
        name: ["model={width: 0.25}"]
        for name in (
            "cityscapes-single-task-attack",
            "cityscapes-multitask-attack",
            "cityscapes-adversarial-training",
        )
    },
}


def release_smoke(name: str):
    """Sweep ``name``'s smoke trials as release 0.1.0 expanded them."""
    return load_sweep(name).expand("smoke", overrides=RELEASE_SMOKE.get(name))


def test_every_builtin_smoke_trial_keeps_its_release_keys():
    golden = json.loads((DATA / "release-0.1.0-keys.json").read_text())["keys"]
    for name_preset, pairs in golden.items():
        name = name_preset.removesuffix("/smoke")
        if name in CHANGED_MODELS:
            continue
        specs = release_smoke(name)
        now = sorted((s.trial_key, s.model_key) for s in specs)
        assert now == sorted(map(tuple, pairs)), name_preset


def test_models_that_changed_have_new_keys_and_the_unchanged_keep_theirs():
    """Release 0.1.0 trained every auxiliary task of these sweeps at λ_a = 0.01, unshared."""
    golden = json.loads((DATA / "release-0.1.0-keys.json").read_text())["keys"]
    for name in CHANGED_MODELS:
        before = {k for k, _ in golden[f"{name}/smoke"]}
        for spec in release_smoke(name):
            same = all(spec.weights[t] == 0.01 for t in spec.aux_tasks)
            assert (spec.trial_key in before) == same, (name, spec.label, spec.weights)


def test_the_changed_smoke_presets_train_other_models():
    for name in RELEASE_SMOKE:
        now = {s.model_key for s in load_sweep(name).expand("smoke")}
        assert now.isdisjoint(s.model_key for s in release_smoke(name)), name


def test_a_store_written_by_the_release_resumes_without_rerunning(tmp_path, capsys):
    out = tmp_path / "run"
    uri = unpack_release_store(out)
    (out / "sweep.json").write_text(json.dumps({"sweep": "tiny-pairs", "preset": "smoke"}))
    (before,) = runs_of(uri, "tiny-pairs/smoke")

    argv = ["run", str(TINY_SWEEP), "--tasks", "s", "--out", str(out), "--no-reduce"]
    assert main(argv) == 0  # nothing to run: Ray is not even started
    assert "1 finished" in capsys.readouterr().out
    (after,) = runs_of(uri, "tiny-pairs/smoke")
    assert after.info.run_id == before.info.run_id and after.info.end_time == before.info.end_time

    table = tmp_path / "trials.parquet"
    assert main(["export", "--out", str(out), "--to", str(table)]) == 0
    trials = pd.read_parquet(table)
    assert set(trials["main_task"]) == {"segment_semantic"} and set(trials["aux_tasks"]) == {""}
    assert set(trials["weights"]) == {json.dumps({"segment_semantic": 1.0})}
