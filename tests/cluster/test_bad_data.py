"""A corrupt label file fails only the trials that read it; fixing it finishes just those."""

from __future__ import annotations

import shutil

import pytest

from orchestrator.cli import main
from orchestrator.trial.data import ensure_data
from sweeps.presets import DataConfig
from tasks.formats.taskonomy import buildings
from tests.helpers.mlflow_runs import keys_of, runs_of

# A whole sweep, run twice: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow


def test_corrupt_label_fails_only_its_trials_then_rerun_finishes_them(
    tmp_path, sweep_yaml, ray_local, capfd, caplog
):
    synthetic = ensure_data("taskonomy", DataConfig(n=40, size=16, seed=0))
    root = tmp_path / "taskonomy"
    shutil.copytree(synthetic, root)
    train_building = buildings("train")[0]
    bad = sorted((root / train_building / "normal").glob("*.png"))[0]
    good_bytes = bad.read_bytes()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png")
    sweep = sweep_yaml(
        {"name": "bad-data", "presets.smoke.data": {"source": "real", "image_size": 16}}
    )
    out = tmp_path / "run"
    args = ["run", str(sweep), "--tasks", "s,n", "--out", str(out), "--data-root", str(root)]
    args += ["--max-failures", "2"]  # a data error is not retried however many are allowed

    caplog.set_level("INFO")
    assert main(args) == 1
    # Told once: one line per failed trial, no traceback (that is for 'mtsweep logs').
    told = [r.getMessage() for r in caplog.records if " failed" in r.getMessage()]
    assert len([m for m in told if bad.name in m]) == 3, told
    assert not any("trying again" in m for m in told)  # each trial ran once
    assert not any(r.exc_info or "Traceback" in r.getMessage() for r in caplog.records)
    assert "Traceback" not in capfd.readouterr().err
    uri = f"sqlite:///{out / 'mlflow.db'}"
    runs = runs_of(uri, "bad-data/smoke")
    assert len(runs) == 4
    failed = [r for r in runs if r.info.status == "FAILED"]
    finished = [r for r in runs if r.info.status == "FINISHED"]
    # every model that trains normals (n alone, s+n, n+s) reads the file
    uses_normal = [
        r
        for r in runs
        if "normal" in (r.data.tags["mtsweep.main_task"], r.data.tags["mtsweep.aux_tasks"])
    ]
    assert {r.info.run_id for r in failed} == {r.info.run_id for r in uses_normal}
    assert len(failed) == 3 and len(finished) == 1
    for r in failed:
        assert bad.name in r.data.tags["mtsweep.error"]
    capfd.readouterr()
    assert main(["status", "--out", str(out)]) == 1  # some trial failed
    status = capfd.readouterr().out
    assert "3 failed" in status and status.count(bad.name) == 3

    kept = {r.info.run_id: r.info.end_time for r in finished}
    bad.write_bytes(good_bytes)
    assert main(args) == 0
    again = runs_of(uri, "bad-data/smoke")
    assert len(again) == 4 and len(set(keys_of(again))) == 4
    assert all(r.info.status == "FINISHED" for r in again)
    assert {r.info.run_id: r.info.end_time for r in again if r.info.run_id in kept} == kept
    assert {r.info.run_id for r in again} == {r.info.run_id for r in runs}
