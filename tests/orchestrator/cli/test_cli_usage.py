"""What a user does around a run: --set, show --config, status exit codes, logs, --rerun,
export by --out alone, the sweep's own MLflow run, and the Python API."""

from __future__ import annotations

import json
import platform

import mlflow
import pandas as pd
import pytest
import ray
import torch
import yaml
from mlflow.tracking import MlflowClient

import mtsweep
from orchestrator.cli import main
from orchestrator.sweep.lifecycle import run_sweep
from orchestrator.sweep.mlflow_store import default_tracking_uri
from orchestrator.sweep.plan import OutDirError, Request, make_plan
from tests.helpers.drills import FailFirstAttempts, NoteLiveNode
from tests.helpers.mlflow_runs import runs_of, sweep_runs_of

# Whole sweeps or scripts in their own processes: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow

ONE_MODEL = {"name": "one-model", "models": {"list": [{"train": "d"}]}}


def test_show_config_prints_the_resolved_preset_with_every_choice(capsys):
    assert main(["show", "cityscapes-single-task-attack", "--preset", "paper", "--config"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["data"]["crop"] == 256 and resolved["data"]["flip"] is True
    assert resolved["train"]["momentum"] == 0.9  # a default, filled in
    assert main(["show", "taskonomy-pairs", "--preset", "paper", "--config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["data"]["convention"] == "taskonomy"
    assert main(["show", "output-dimensionality", "--preset", "paper", "--config"]) == 0
    paper = yaml.safe_load(capsys.readouterr().out)
    assert paper["model"]["init_from"] == "drn_d_22_cityscapes.pth"
    assert paper["data"]["image_size"] == 1024 and paper["train"]["epochs"] == 0
    assert main(["show", "cityscapes-single-task-attack", "--preset", "paper"]) == 0
    listing = capsys.readouterr().out
    assert "depth(λ=0.0005)" in listing and "autoencoder(λ=0.1)" in listing


def test_set_changes_the_trials_and_show_config_reflects_it(capsys):
    assert main(["show", "taskonomy-pairs", "--tasks", "s"]) == 0
    plain = capsys.readouterr().out
    assert main(["show", "taskonomy-pairs", "--tasks", "s", "--set", "train.epochs=2"]) == 0
    changed = capsys.readouterr().out
    key = plain.splitlines()[2].split()[0]
    assert key not in changed
    argv = ["show", "taskonomy-pairs", "--set", "train.epochs=2", "--set", "model.width=4"]
    assert main([*argv, "--config"]) == 0
    resolved = yaml.safe_load(capsys.readouterr().out)
    assert resolved["train"]["epochs"] == 2 and resolved["model"]["width"] == 4


def test_synth_writes_to_its_to_and_to_the_old_out_spelling(tmp_path, capsys):
    for flag in ("--to", "--out"):
        target = tmp_path / flag.strip("-")
        assert main(["synth", "taskonomy", flag, str(target), "--n", "2", "--size", "8"]) == 0
        assert len(list(target.rglob("*_domain_rgb.png"))) == 2
    assert main(["synth", "taskonomy"]) == 2
    assert "give --to DIR" in capsys.readouterr().err


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and mtsweep.__version__ in capsys.readouterr().out


def test_reading_a_sweep_that_never_ran_writes_nothing(capsys, tmp_path):
    out = tmp_path / "never"
    assert main(["status", "taskonomy-pairs", "--out", str(out)]) == 3
    assert "nothing has run yet" in capsys.readouterr().out
    code = main(
        ["export", "taskonomy-pairs", "--out", str(out), "--to", str(tmp_path / "t.parquet")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no results of taskonomy-pairs/smoke" in err
    assert not out.exists() and not (tmp_path / "t.parquet").exists()


@pytest.fixture
def scans(monkeypatch) -> list:
    """Every search of a whole experiment (no filter) made from now on: a spy that hands each
    call on to the real store."""
    seen: list = []
    real = MlflowClient.search_runs

    def spy(self, experiment_ids, filter_string="", *args, **kwargs):
        if not filter_string:
            seen.append(experiment_ids)
        return real(self, experiment_ids, filter_string, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "search_runs", spy)
    return seen


def _failed_sweep(root, sweep_yaml):
    """A one-model sweep whose trial failed on both its attempts (recorded FAILED), each
    attempt noting the node its live run named before it failed."""
    import ray.cloudpickle

    import tests.helpers.drills

    ray.cloudpickle.register_pickle_by_value(tests.helpers.drills)
    sweep = sweep_yaml(ONE_MODEL)
    out = root / "run"
    plan = make_plan(Request(sweep=str(sweep)), out=out, max_failures=1)
    drill = NoteLiveNode(plan.tracking_uri, then=FailFirstAttempts(2))
    assert run_sweep(plan, before_trial=drill) == {"FAILED": 1}
    return out, plan


def test_a_failed_trial_is_explained_then_runs_live_nested_and_reruns_on_request(
    tmp_path, sweep_yaml, ray_local, capsys, scans
):
    out, plan = _failed_sweep(tmp_path, sweep_yaml)
    live_node = plan.storage.read_bytes(f"live_node/{plan.keys[0]}").decode()
    assert live_node  # the running trial's run named its node before the trial trained
    (failed,) = runs_of(plan.tracking_uri, "one-model/smoke")
    ran_with = {  # the worker's first report: a trial that never trained records them too
        k.removeprefix("mtsweep.worker."): v
        for k, v in failed.data.tags.items()
        if k.startswith("mtsweep.worker.")
    }
    assert ran_with == {
        "python": platform.python_version(),
        "mtsweep": mtsweep.__version__,
        "commit": failed.data.tags["mlflow.source.git.commit"],
        "torch": torch.__version__,
        "ray": ray.__version__,
        "mlflow": mlflow.__version__,
        "cuda": torch.version.cuda or "none",  # no GPU booked: neither its name nor driver
    }
    scans.clear()
    assert main(["status", "--out", str(out)]) == 1
    assert "FAILED" in capsys.readouterr().out
    assert scans == []  # status reads the default SQLite store itself (sqlite_file.py)
    assert main(["logs", plan.keys[0][:6], "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Traceback from the worker" in printed and 'drills.py", line' in printed
    assert "InjectedFault: injected fault 2 of 2" in printed
    assert "worker logs" in printed

    scans.clear()
    assert main(["run", "--out", str(out)]) == 0  # the request comes from <out>/sweep.json
    assert len(scans) == 2  # one read for the run, one for its reduction
    uri = default_tracking_uri(out)
    (run,) = runs_of(uri, "one-model/smoke")
    client = MlflowClient(tracking_uri=uri)
    losses = client.get_metric_history(run.info.run_id, "train/loss")
    assert sorted(m.step for m in losses) == [0, 1]  # each epoch once: live, then final
    tags = run.data.tags
    assert tags["mtsweep.epoch"] == "2/2" and tags["mtsweep.checkpoint_uri"].startswith("file:")
    assert tags["mtsweep.node"] == live_node
    assert tags["mtsweep.worker.torch"] == torch.__version__  # the attempt that finished
    params = run.data.params  # every resolved setting, also those the YAML leaves out
    assert params["train.momentum"] == "0.9" and params["data.convention"] == "standley"
    assert params["train.epochs"] == "2" and float(params["model.width"]) == 8
    (parent,) = sweep_runs_of(uri, "one-model/smoke")
    assert tags["mlflow.parentRunId"] == parent.info.run_id
    sweep_params = parent.data.params  # the request, the resolved preset and the versions
    assert sweep_params["request.sweep"] == "one-model" and sweep_params["request.trials"] == "1"
    assert sweep_params["preset.train.momentum"] == "0.9"
    assert torch.__version__.startswith(sweep_params["version.torch"])
    assert len(parent.data.tags["mlflow.source.git.commit"]) == 40
    shown = {a.path for a in client.list_artifacts(parent.info.run_id, "request")}
    assert shown == {"request/request.json", "request/overrides.yaml", "request/preset.yaml"}
    assert main(["status", "--out", str(out)]) == 0

    assert main(["run", "--out", str(out), "--rerun", "all", "--no-reduce"]) == 0
    every = [r for r in MlflowClient(tracking_uri=uri).search_runs([run.info.experiment_id])]
    trial_runs = [r for r in every if "mtsweep.trial_key" in r.data.tags]
    assert len(trial_runs) == 2
    old = next(r for r in trial_runs if r.info.run_id == run.info.run_id)
    new = next(r for r in trial_runs if r.info.run_id != run.info.run_id)
    assert old.data.tags.get("mtsweep.superseded") and new.info.status == "FINISHED"
    assert "mtsweep.superseded" not in new.data.tags
    assert new.data.metrics["train/resumed_from_epoch"] == 0  # trained afresh, not resumed

    table = out / "trials.parquet"
    assert main(["export", "--out", str(out), "--to", str(table)]) == 0
    trials = pd.read_parquet(table)
    assert set(trials["run_id"]) == {new.info.run_id}  # the superseded run is not exported
    assert json.loads(trials["weights"].iloc[0]) == {"depth_zbuffer": 1.0}


def test_python_api_runs_and_reads_a_sweep_and_extends_it_on_request(
    tmp_path, sweep_yaml, ray_local, capsys
):
    sweep = sweep_yaml({**ONE_MODEL, "name": "api-model"})
    out = tmp_path / "api"
    reports = []
    states = mtsweep.run(
        str(sweep), overrides={"train.epochs": 1}, out=out, reduce=False, progress=reports.append
    )
    assert states == {"FINISHED": 1}
    last = reports[-1]
    assert (last.done, last.running, last.failed, last.pending, last.total) == (1, 0, 0, 0, 1)
    assert last.line.startswith("[1/1 done") and last.eta_s == 0
    status = mtsweep.status(out)
    assert status.ran and status.states == {"FINISHED": 1}
    assert [t.label for t in status.of("FINISHED")] == ["depth_zbuffer/seed0"]
    trials = mtsweep.trials(out)
    assert set(trials["main_task"]) == {"depth_zbuffer"} and (trials["value"] > 0).all()
    again = mtsweep.run(str(sweep), overrides={"train.epochs": 1}, out=out, reduce=False)
    uri = default_tracking_uri(out)
    assert again == {"FINISHED": 1} and len(first := runs_of(uri, "api-model/smoke")) == 1

    # Another seed on the same out: refused in one line, unless the user says --extend.
    assert main(["run", "--out", str(out), "--seeds", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--seeds 1 (recorded: the preset's)" in err and "--extend" in err
    assert len(err.splitlines()) == 1
    with pytest.raises(OutDirError, match="--extend"):
        mtsweep.run(str(sweep), overrides={"train.epochs": 1}, seeds=[1], out=out, reduce=False)
    states = mtsweep.run(
        str(sweep), overrides={"train.epochs": 1}, seeds=[1], out=out, reduce=False, extend=True
    )
    assert states == {"FINISHED": 2}
    (kept,) = [r for r in runs_of(uri, "api-model/smoke") if r.data.tags["mtsweep.seed"] == "0"]
    assert (kept.info.run_id, kept.info.end_time) == (first[0].info.run_id, first[0].info.end_time)
    assert sorted(mtsweep.trials(out)["seed"].unique()) == [0, 1]
    assert main(["status", "--out", str(out)]) == 0  # --out alone plans both requests
    assert "2 in all: 2 finished" in capsys.readouterr().out
