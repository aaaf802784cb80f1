"""The whole pipeline on a 3-task grid (9 trials) with real Ray, MLflow and PNG data."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
import torch
from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.reductions.table import TRIALS_COLUMNS, read_summary
from orchestrator.sweep.lifecycle import run_sweep
from orchestrator.sweep.mlflow_store import default_tracking_uri
from orchestrator.sweep.plan import Request, make_plan
from orchestrator.sweep.sqlite_file import read_runs
from tests.helpers.drills import FailFirstAttempts
from tests.helpers.mlflow_runs import runs_of
from tests.helpers.sweep_files import TINY_SWEEP as TINY

TINY_EXPERIMENT = "tiny-pairs/smoke"


def test_whole_pipeline_then_resume_runs_nothing(tmp_path, ray_local, capsys):
    out = tmp_path / "run"
    assert main(["run", str(TINY), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    client = MlflowClient(tracking_uri=default_tracking_uri(out))
    runs = runs_of(default_tracking_uri(out), TINY_EXPERIMENT)
    assert len(runs) == 9
    assert all(r.info.status == "FINISHED" for r in runs)
    keys = [r.data.tags["mtsweep.trial_key"] for r in runs]
    assert len(set(keys)) == 9
    for r in runs:
        tags, metrics = r.data.tags, r.data.metrics
        main_task = tags["mtsweep.main_task"]
        primary = "miou" if main_task == "segment_semantic" else "l1"
        assert f"clean/{main_task}/{primary}" in metrics
        assert f"pgd3_eps4/{main_task}/{primary}" in metrics
        assert {"time/train_s", "time/attack_s", "time/total_s"} <= set(metrics)
        history = client.get_metric_history(r.info.run_id, "train/loss")
        assert [m.step for m in history] == [0, 1]
        assert tags["mtsweep.sweep"] == "tiny-pairs" and tags["mtsweep.preset"] == "smoke"
        assert tags["mtsweep.seed"] == "0"
        # what its worker ran with, reported before it trained
        assert tags["mtsweep.worker.torch"] == torch.__version__
        assert tags["mtsweep.worker.ray"] == ray.__version__
        artifacts = [a.path for a in client.list_artifacts(r.info.run_id)]
        assert "prediction.png" in artifacts
    baselines = [r for r in runs if r.data.tags["mtsweep.aux_tasks"] == ""]
    assert len(baselines) == 3
    # An attack makes the main task worse than on clean images (miou down, l1 up).
    for r in baselines:
        m, t = r.data.metrics, r.data.tags["mtsweep.main_task"]
        if t == "segment_semantic":
            assert m[f"pgd3_eps4/{t}/miou"] <= m[f"clean/{t}/miou"]
        else:
            assert m[f"pgd3_eps4/{t}/l1"] > m[f"clean/{t}/l1"]

    result_file = out / "results" / "fig7.parquet"
    result = pd.read_parquet(result_file)
    cells = result[result["aux_task"].notna()]
    assert len(cells) == 2 * 6 and cells["value"].notna().all()
    assert (out / "results" / "fig7_clean.png").stat().st_size > 1000
    assert (out / "results" / "fig7_pgd3_eps4.png").stat().st_size > 1000
    assert "pgd3_eps4: improved" in read_summary(result_file)
    assert "/6 cells" in read_summary(result_file)
    assert "improved" in printed
    assert main(["status", "--out", str(out)]) == 0
    assert "different versions" not in capsys.readouterr().out  # one environment: no warning

    # Running the same command again is the resume: nothing runs, nothing is rewritten.
    before = {r.info.run_id: r.info.end_time for r in runs}
    assert main(["run", str(TINY), "--out", str(out)]) == 0
    again = runs_of(default_tracking_uri(out), TINY_EXPERIMENT)
    assert {r.info.run_id: r.info.end_time for r in again} == before

    # export → reduce --from-table gives the same result table as the run's own reduction
    table = tmp_path / "trials.parquet"
    assert main(["export", str(TINY), "--out", str(out), "--to", str(table)]) == 0
    trials = pd.read_parquet(table)
    assert list(trials.columns) == list(TRIALS_COLUMNS)
    assert set(trials["sweep"]) == {"tiny-pairs"} and set(trials["preset"]) == {"smoke"}
    assert set(trials["arch"]) == {"resnet18"} and trials["run_id"].nunique() == 9
    assert trials["trial_key"].nunique() == 9
    again_file = tmp_path / "again.parquet"
    assert main(["reduce", "--from-table", str(table), "--to", str(again_file)]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(again_file), result)
    # From the run directory: --out RUNDIR --to FILE, and the old --run-dir RUNDIR --out FILE.
    for argv, written in (
        (["--out", str(out), "--to", str(tmp_path / "new.parquet")], tmp_path / "new.parquet"),
        (["--run-dir", str(out), "--out", str(tmp_path / "old.parquet")], tmp_path / "old.parquet"),
    ):
        assert main(["reduce", *argv]) == 0
        pd.testing.assert_frame_equal(pd.read_parquet(written), result)


ONE_MODEL = {"name": "one-model", "models": {"list": [{"train": "d"}]}}


def _run_with_faults(
    sweep: Path, out: Path, faults: int, max_failures: int, permanent: bool = False
):
    """Run through the life cycle with a drill that fails each trial's first attempts."""
    import ray.cloudpickle

    import tests.helpers.drills

    ray.cloudpickle.register_pickle_by_value(tests.helpers.drills)
    plan = make_plan(Request(sweep=str(sweep)), out=out, max_failures=max_failures)
    return run_sweep(plan, before_trial=FailFirstAttempts(faults, permanent))


def test_injected_failure_is_retried(tmp_path, sweep_yaml, ray_local):
    out = tmp_path / "run"
    states = _run_with_faults(sweep_yaml(ONE_MODEL), out, faults=1, max_failures=1)
    assert states == {"FINISHED": 1}
    runs = runs_of(default_tracking_uri(out), "one-model/smoke")
    assert [r.info.status for r in runs] == ["FINISHED"]
    faults = list((out / "ray" / "faults").iterdir())
    assert len(faults) == 1 and faults[0].read_text() == "1"


def test_a_permanent_error_fails_the_trial_without_a_retry(tmp_path, sweep_yaml, ray_local):
    out = tmp_path / "run"
    states = _run_with_faults(sweep_yaml(ONE_MODEL), out, faults=3, max_failures=2, permanent=True)
    assert states == {"FAILED": 1}
    (run,) = runs_of(default_tracking_uri(out), "one-model/smoke")
    assert run.data.tags["mtsweep.error"] == "InjectedDataError: injected fault 1 of 3"
    assert [p.read_text() for p in (out / "ray" / "faults").iterdir()] == ["1"]  # one attempt


def test_a_model_two_sweeps_share_is_trained_once(tmp_path, sweep_yaml, ray_local, monkeypatch):
    monkeypatch.chdir(tmp_path)  # artifacts must land beside each store, not in the cwd
    storage = tmp_path / "shared-checkpoints"
    first = sweep_yaml(ONE_MODEL)
    second = sweep_yaml({**ONE_MODEL, "name": "one-model-fgsm", "evals": ["clean", "fgsm_eps4"]})
    for sweep, out in ((first, "a"), (second, "b")):
        args = ["run", str(sweep), "--out", str(tmp_path / out), "--storage", str(storage)]
        assert main([*args, "--no-reduce"]) == 0
    uri_a, uri_b = default_tracking_uri(tmp_path / "a"), default_tracking_uri(tmp_path / "b")
    (run_a,), (run_b,) = runs_of(uri_a, "one-model/smoke"), runs_of(uri_b, "one-model-fgsm/smoke")
    assert run_a.data.metrics["train/resumed_from_epoch"] == 0
    assert run_b.data.metrics["train/resumed_from_epoch"] == 2  # found trained: no epoch rerun
    losses = [
        [m.value for m in client.get_metric_history(run.info.run_id, "train/loss")]
        for client, run in ((MlflowClient(uri_a), run_a), (MlflowClient(uri_b), run_b))
    ]
    assert losses[0] == losses[1] and len(losses[0]) == 2
    metric = "clean/depth_zbuffer/l1"
    assert run_a.data.metrics[metric] == run_b.data.metrics[metric]
    assert "fgsm_eps4/depth_zbuffer/l1" in run_b.data.metrics
    assert not (tmp_path / "mlruns").exists()
    for out in ("a", "b"):
        assert list((tmp_path / out / "mlartifacts").rglob("prediction.png"))


@pytest.mark.slow
def test_driver_interrupted_mid_sweep_then_resumed_once(tmp_path):
    """Ctrl-C (SIGINT) while trials train: the driver ends cleanly (exit 130, runs marked
    interrupted, the lease released, no Ray restore hint); the same command finishes the
    rest, each trial in the one run it had. (A SIGKILLed driver leaves its runs RUNNING
    and its lease to a dead pid: the same resume path, with the lease taken over.)"""
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "orchestrator.cli",
        "run",
        str(TINY),
        "--tasks",
        "s,d",  # 4 trials, two at a time
        "--out",
        str(out),
        "--num-cpus",
        "2",
        "--no-reduce",
        # Trials long enough that one is still training when another has finished, even
        # on a loaded machine (at the tiny preset's 2 epochs the last two finish together).
        "--set",
        "train.epochs=8",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "driver.log"
    with log.open("w") as sink:
        # Ctrl-C as in a terminal: a process started with SIGINT ignored (as a test worker
        # may be, and as nohup does on purpose) would keep ignoring it.
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.monotonic() + 240
        states: list[str] = []
        try:
            while time.monotonic() < deadline:
                time.sleep(0.3)
                assert proc.poll() is None, "the sweep ended before it could be interrupted"
                if (out / "mlflow.db").exists():
                    runs = read_runs(out / "mlflow.db", "tiny-pairs/smoke") or []
                    states = [r.info.status for r in runs]
                    if "FINISHED" in states and "RUNNING" in states:
                        break
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    printed = log.read_text()
    assert code == 130, printed[-2000:]
    assert printed.strip().splitlines()[-1] == "interrupted — run the same command to resume"
    assert "Tuner.restore" not in printed and "Traceback" not in printed
    assert not (out / "driver.lease").exists()
    runs = runs_of(default_tracking_uri(out), TINY_EXPERIMENT)
    assert "RUNNING" not in [r.info.status for r in runs]
    killed = {r.info.run_id for r in runs if r.info.status == "KILLED"}
    finished = [r for r in runs if r.info.status == "FINISHED"]
    assert killed and 1 <= len(finished) < 4
    kept = {r.info.run_id: (r.info.end_time, r.data.metrics) for r in finished}
    status = subprocess.run(
        [*cmd[:3], "status", "--out", str(out)], env=env, capture_output=True, text=True
    )
    assert status.returncode == 3 and f"{len(killed)} interrupted" in status.stdout

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-2000:]
    runs = runs_of(default_tracking_uri(out), TINY_EXPERIMENT)
    keys = [r.data.tags["mtsweep.trial_key"] for r in runs]
    assert len(runs) == 4 and len(set(keys)) == 4  # one run per trial: the killed ones reused
    assert all(r.info.status == "FINISHED" for r in runs)
    assert killed <= {r.info.run_id for r in runs}
    after = {r.info.run_id: (r.info.end_time, r.data.metrics) for r in runs}
    for run_id, value in kept.items():
        assert after[run_id] == value  # finished before the interrupt: untouched
