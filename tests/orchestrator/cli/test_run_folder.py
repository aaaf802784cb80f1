"""A run folder: read fast (no torch, matplotlib nor Ray, nor for list and show), and movable
with its store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import mtsweep
from orchestrator.cli import main
from orchestrator.sweep.plan import (
    REQUEST_FILE,
    TRIALS_FILE,
    Request,
    claim_out_dir,
    make_plan,
    read_request,
    read_run_folder,
)
from orchestrator.sweep.sqlite_file import read_runs
from orchestrator.sweep.tracking import Tracker
from orchestrator.trial.result import TrialResult
from sweeps.definition import builtin_names, load_sweep
from tests.helpers.sweep_files import TINY_SWEEP

REPO = Path(__file__).parents[3]
HEAVY = ("torch", "torchvision", "matplotlib", "ray")


def result_of(spec) -> TrialResult:
    return TrialResult(
        trial_key=spec.trial_key,
        metrics={f"clean/{spec.main_tasks[0]}/l1": 0.25},
        train_loss=[0.9, 0.5],
        resumed_from_epoch=0,
        time={"train_s": 1.0, "attack_s": 0.5, "total_s": 1.5, "ended_unix": 1.7e9},
    )


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A claimed run folder of the 9-trial grid: 2 finished, 1 failed, 1 running, 5 pending."""
    plan = make_plan(Request(sweep=str(TINY_SWEEP)), out=tmp_path_factory.mktemp("t") / "run")
    claim_out_dir(plan)
    tracker = Tracker(plan.tracking_uri, plan.sweep.name, plan.preset)
    for spec in plan.specs[:2]:
        tracker.log_result(spec, result_of(spec))
    tracker.start_run(plan.specs[2], {"node": "10.0.0.7"})
    tracker.log_failure(plan.specs[3], "DataError: bad.png is not a PNG", "Traceback: deep\n")
    return plan.out


@pytest.fixture
def recorded(template, tmp_path):
    """A copy of the template folder (so itself a moved folder), as recorded."""
    shutil.copytree(template, tmp_path / "run")
    return read_run_folder(tmp_path / "run")


def test_reading_and_listing_commands_load_no_torch_matplotlib_nor_ray(recorded, tmp_path):
    """In one fresh interpreter: the reading commands on a run folder, and list and show
    of every built-in sweep and preset (with each of show's options)."""
    out, failed = recorded.out, recorded.specs[3].trial_key
    folder = [
        ["status", "--out", str(out)],
        ["show", "--out", str(out)],
        ["logs", failed[:6], "--out", str(out)],
        ["export", "--out", str(out), "--to", str(tmp_path / "t.parquet")],
    ]
    sweeps = {name: list(load_sweep(name).presets) for name in builtin_names()}
    shown = [["list"]] + [
        ["show", name, "--preset", preset, *config]
        for name, presets in sweeps.items()
        for preset in presets
        for config in ([], ["--config"])
    ]
    narrowed = [
        "show", "taskonomy-pairs", "--preset", "paper", "--tasks", "s,d", "--seeds", "1,2",
        "--set", "train.epochs=2", "--data-root", str(tmp_path / "data"),
    ]  # fmt: skip
    script = f"""
import json, sys
from orchestrator.cli import main
codes = [main(argv) for argv in {[*folder, *shown, narrowed]!r}]
# lazy_loader leaves a stand-in in sys.modules until a module is first used
loaded = [m for m in {HEAVY!r} if type(sys.modules.get(m)).__name__ not in ("NoneType", "_LazyModule")]
print(json.dumps({{"codes": codes, "heavy": loaded}}))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    *printed, last = done.stdout.strip().splitlines()
    report = json.loads(last)
    assert report["heavy"] == []
    assert report["codes"] == [1] + [0] * (len(folder) + len(shown))  # status: a trial failed
    text = "\n".join(printed)
    assert "trials: 9 in all: 2 finished, 1 failed, 1 running, 5 pending" in text
    assert "node 10.0.0.7" in text and "DataError: bad.png is not a PNG" in text
    assert "Traceback: deep" in text  # logs: the failed trial's whole traceback
    assert "wrote 2 rows (2 trials)" in text
    for name, presets in sweeps.items():
        assert any(line.startswith(f"{name} ") for line in printed)  # list
        for preset in presets:
            assert f"# {name}/{preset}, every default filled in" in text  # show --config
            assert any(line.startswith(f"{name}/{preset}: ") for line in printed)  # show
    assert "taskonomy-pairs/paper: 8 trials" in text  # s, d, s+d, d+s; seeds 1 and 2
    assert not (tmp_path / "runs").exists()  # showing writes nothing


def test_python_api_status_of_a_run_folder(recorded):
    status = mtsweep.status(recorded.out)
    assert status.states == {"FINISHED": 2, "FAILED": 1, "RUNNING": 1, "PENDING": 5}
    (failed,) = status.of("FAILED")
    assert failed.trial_key == recorded.specs[3].trial_key
    assert failed.error == "DataError: bad.png is not a PNG"
    (running,) = status.of("RUNNING")
    assert running.node == "10.0.0.7" and running.started_ms > 0


def test_the_sqlite_reader_sees_what_mlflow_sees(recorded):
    client = MlflowClient(tracking_uri=recorded.tracking_uri)
    experiment = client.get_experiment_by_name("tiny-pairs/smoke")
    theirs = {r.info.run_id: r for r in client.search_runs([experiment.experiment_id])}
    ours = {r.info.run_id: r for r in read_runs(recorded.out / "mlflow.db", "tiny-pairs/smoke")}
    assert set(ours) == set(theirs) and len(ours) == 4
    for run_id, run in ours.items():
        other = theirs[run_id]
        assert run.info.status == other.info.status
        assert (run.info.start_time, run.info.end_time) == (
            other.info.start_time,
            other.info.end_time,
        )
        assert run.data.tags == other.data.tags
        assert run.data.params == other.data.params
        assert run.data.metrics == other.data.metrics
    assert read_runs(recorded.out / "mlflow.db", "no-such/sweep") is None


def test_a_moved_or_copied_folder_reads_its_own_store(recorded, tmp_path, capsys):
    old = recorded.out
    record = (old / REQUEST_FILE).read_text()
    assert str(old) not in record  # paths inside the folder are kept relative to it
    moved = tmp_path / "elsewhere" / "moved"
    moved.parent.mkdir()
    shutil.move(old, moved)
    capsys.readouterr()
    assert main(["status", "--out", str(moved)]) == 1
    assert "2 finished, 1 failed, 1 running, 5 pending" in capsys.readouterr().out
    assert main(["logs", recorded.specs[3].trial_key, "--out", str(moved)]) == 0
    assert "Traceback: deep" in capsys.readouterr().out  # the artifact followed the folder

    copy = tmp_path / "copy"
    shutil.copytree(moved, copy)
    folder = read_run_folder(copy)
    assert folder.tracking_uri == f"sqlite:///{copy / 'mlflow.db'}"
    assert folder.storage.local_path == (copy / "ray").resolve()
    again = make_plan(read_request(copy), out=copy)  # what a resume in the copy would use
    assert again.tracking_uri == folder.tracking_uri and again.storage == folder.storage
    Tracker(again.tracking_uri, "tiny-pairs", "smoke").log_result(
        again.specs[4], result_of(again.specs[4])
    )
    capsys.readouterr()
    assert main(["status", "--out", str(copy)]) == 1
    assert "3 finished" in capsys.readouterr().out
    assert main(["status", "--out", str(moved)]) == 1  # the original is untouched
    assert "2 finished" in capsys.readouterr().out

    (copy / "mlflow.db").unlink()
    assert main(["status", "--out", str(copy)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "store" in err and "missing" in err
    assert "nothing has run yet" not in err


def test_a_folder_recorded_with_absolute_paths_still_loads(recorded, capsys):
    """Release 0.1.0 recorded absolute paths and no trials file."""
    out = recorded.out
    raw = json.loads((out / REQUEST_FILE).read_text())
    raw["tracking_uri"] = f"sqlite:///{out / 'mlflow.db'}"
    raw["storage"] = str(out / "ray")
    (out / REQUEST_FILE).write_text(json.dumps(raw))
    (out / TRIALS_FILE).unlink()
    assert read_run_folder(out) is None  # planned from its request instead
    assert main(["status", "--out", str(out)]) == 1
    assert "2 finished, 1 failed, 1 running, 5 pending" in capsys.readouterr().out


def test_status_warns_once_nodes_ran_other_versions_naming_each_and_where(recorded, capsys):
    base = {"python": "3.11.9", "torch": "2.4.1", "ray": "2.40.0", "cuda": "12.1"}
    tracker = Tracker(recorded.tracking_uri, "tiny-pairs", "smoke")

    def started(spec, node, versions):  # what the recorder writes from a first report
        tracker.start_run(spec, {"node": ""})
        tracker.set_node(spec, node, versions)

    def warnings() -> list[str]:
        capsys.readouterr()
        assert main(["status", "--out", str(recorded.out)]) == 1
        return [line for line in capsys.readouterr().out.splitlines() if "versions" in line]

    # The template's runs carry no versions (as runs recorded before workers reported them).
    started(recorded.specs[4], "10.0.0.1", {**base, "gpu": "NVIDIA H100 80GB HBM3"})
    started(recorded.specs[5], "10.0.0.2", {**base, "gpu": "NVIDIA A100-SXM4-80GB"})  # mixed
    assert warnings() == []

    started(recorded.specs[6], "10.0.0.2", base)
    started(recorded.specs[7], "10.0.0.3", {**base, "torch": "2.5.0", "cuda": "12.4"})
    (line,) = warnings()
    assert line.startswith("warning: the trials ran with different versions: ")
    assert "torch 2.4.1 (3 trials on 2 nodes), 2.5.0 (1 trial on 1 node)" in line
    assert "cuda 12.1 (3 trials on 2 nodes), 12.4 (1 trial on 1 node)" in line
    assert "ray" not in line and "python" not in line
    assert mtsweep.status(recorded.out).version_warning == line  # the Python API says it too
