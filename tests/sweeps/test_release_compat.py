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


def test_every_builtin_smoke_trial_keeps_its_release_keys():
    golden = json.loads((DATA / "release-0.1.0-keys.json").read_text())["keys"]
    for name_preset, pairs in golden.items():
        name, preset = name_preset.split("/")
        if name in CHANGED_MODELS:
            continue
        specs = load_sweep(name).expand(preset)
        now = sorted((s.trial_key, s.model_key) for s in specs)
        assert now == sorted(map(tuple, pairs)), name_preset


def test_models_that_changed_have_new_keys_and_the_unchanged_keep_theirs():
    """Release 0.1.0 trained every auxiliary task of these sweeps at λ_a = 0.01, unshared."""
    golden = json.loads((DATA / "release-0.1.0-keys.json").read_text())["keys"]
    for name in CHANGED_MODELS:
        before = {k for k, _ in golden[f"{name}/smoke"]}
        for spec in load_sweep(name).expand("smoke"):
            same = all(spec.weights[t] == 0.01 for t in spec.aux_tasks)
            assert (spec.trial_key in before) == same, (name, spec.label, spec.weights)


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
