"""Sweeps on object storage: a real S3 API (``moto_server`` on loopback) as ``--storage``,
and as the MLflow server's artifact store.

One sweep carries most checks, to stay cheap: its driver, joined to the module's Ray as to
a cluster (so every node first reads a probe from the bucket), is killed (SIGKILL) while a
trial trains, a forged result of that trial is put in the bucket, and the same command, run
again, must refuse the forgery, continue the trial from its checkpoint in the bucket and
keep one MLflow run per trial, with checkpoints, results and artifacts as objects in the
bucket, nothing of them on local disk, and no credential in any record.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from mtsweep.shared_storage import SharedStorage
from orchestrator.cli import main
from orchestrator.cli.logs import tune_trial_dirs
from orchestrator.sweep.plan import REQUEST_FILE
from orchestrator.trial.checkpoints import load_checkpoint, save_checkpoint
from orchestrator.trial.result import TrialResult, kept_key
from tests.helpers.cluster import MlflowServer, run_argv
from tests.helpers.mlflow_runs import keys_of, runs_of, sweep_runs_of
from tests.helpers.sweep_files import TINY_SWEEP

TWO_MODELS = {
    "name": "on-a-bucket",
    "models": {"list": [{"train": "d"}, {"train": "s"}]},
}
EXPERIMENT = "on-a-bucket/smoke"


@pytest.fixture(scope="module")
def ray_s3(s3_server, ray_local):
    """The module's Ray, started after the S3 environment is set (its workers reach the
    S3 server); its address, for drivers in other processes."""
    return ray_local.get_runtime_context().gcs_address


def _kill_when_a_checkpoint_is_in(store: SharedStorage, cmd: list[str], log) -> None:
    """Run the driver ``cmd`` and SIGKILL it once a model has a checkpoint but no result
    (Ray then ends the dead driver's trials)."""
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert proc.poll() is None, "the sweep ended before its driver could be killed"
            if store.keys("checkpoints") and not store.keys("results"):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("no checkpoint reached the bucket in time")
    finally:
        proc.kill()
        proc.wait()


def _forged(trial_key: str) -> bytes:
    """A result of the trial with a made-up score and an artifact name that escapes."""
    forged = TrialResult(
        trial_key=trial_key,
        metrics={"clean/forged/l1": 0.001},
        train_loss=[0.1],
        resumed_from_epoch=0,
        time={"train_s": 1.0},
        artifacts={"../../escaped.png": "aGVsbG8="},
    )
    return forged.to_json().encode()


@pytest.fixture
def mlflow_on_s3(tmp_path, s3_server):
    """An MLflow server whose artifacts go to a fresh bucket; (server, bucket name)."""
    bucket = s3_server.new_bucket()
    server = MlflowServer(tmp_path / "mlflow", artifacts_destination=f"s3://{bucket}/mlflow")
    server.start()
    yield server, bucket
    server.stop()


@pytest.mark.slow
def test_a_sweep_on_a_bucket_survives_a_killed_driver_and_a_forged_result(
    tmp_path, sweep_yaml, s3_server, ray_s3, mlflow_on_s3
):
    server, bucket = mlflow_on_s3
    sweep, out = sweep_yaml(TWO_MODELS), tmp_path / "run"
    store = SharedStorage(f"s3://{bucket}/sweeps/a")
    argv = run_argv(sweep, out, "--storage", store.location, "--tracking-uri", server.uri)
    argv += ["--address", ray_s3]  # the module's Ray as a cluster: its node reads a probe
    with (tmp_path / "killed.log").open("w") as log:
        driver = [sys.executable, "-m", "orchestrator.cli", *argv]
        _kill_when_a_checkpoint_is_in(store, driver, log)
    trained = {k.split("/")[1] for k in store.keys("checkpoints")}
    open_runs = {
        r.data.tags["mtsweep.model_key"]: r
        for r in runs_of(server.uri, EXPERIMENT)
        if r.info.status == "RUNNING"  # the killed driver left its trials' runs open
    }
    assert trained and trained <= set(open_runs)
    killed = open_runs[sorted(trained)[0]]
    key = killed.data.tags["mtsweep.trial_key"]
    store.write_bytes(kept_key(key), _forged(key))

    assert main(argv) == 0  # the same command resumes
    runs = runs_of(server.uri, EXPERIMENT)
    assert len(runs) == 2 and len(set(keys_of(runs))) == 2  # one run per trial
    assert all(r.info.status == "FINISHED" for r in runs)
    resumed = next(r for r in runs if r.data.tags["mtsweep.trial_key"] == key)
    assert resumed.info.run_id == killed.info.run_id  # the killed driver's run, reused
    assert {r.info.run_id for r in open_runs.values()} <= {r.info.run_id for r in runs}
    # The forgery was refused: the trial ran again, from its checkpoint in the bucket.
    assert "clean/forged/l1" not in resumed.data.metrics
    assert resumed.data.metrics["train/resumed_from_epoch"] > 0
    client = MlflowClient(server.uri)
    history = client.get_metric_history(resumed.info.run_id, "train/loss")
    assert sorted(m.step for m in history) == [0, 1]
    assert not list(tmp_path.rglob("escaped.png"))

    # Checkpoints, results and Tune's files are objects in the bucket; none is on disk.
    for r in runs:
        model = r.data.tags["mtsweep.model_key"]
        assert r.data.tags["mtsweep.checkpoint_uri"] == store.uri(f"checkpoints/{model}")
        assert store.exists(f"checkpoints/{model}/latest.pt")
        kept = store.read_bytes(kept_key(r.data.tags["mtsweep.trial_key"]))
        assert TrialResult.from_json(kept.decode()).metrics.items() <= r.data.metrics.items()
    assert store.keys("tune")
    assert not (out / "ray").exists()
    assert not [k for k in store.keys() if ".probe-" in k]  # the pre-flight cleaned up
    assert json.loads((out / REQUEST_FILE).read_text())["storage"] == store.location

    # The MLflow server keeps each trial's artifacts as objects in the same bucket.
    listed = s3_server.client().list_objects_v2(Bucket=bucket, Prefix="mlflow/")
    pictures = [o["Key"] for o in listed.get("Contents", []) if o["Key"].endswith("prediction.png")]
    assert len(pictures) == 2 and all(r.info.run_id in "".join(pictures) for r in runs)

    # No credential of the environment in the records: sweep.json, params, tags, request.
    secrets = [os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]]
    (parent,) = sweep_runs_of(server.uri, EXPERIMENT)
    request = client.download_artifacts(parent.info.run_id, "request/request.json", str(tmp_path))
    records = [(out / REQUEST_FILE).read_text(), open(request).read()]
    records += [json.dumps([r.data.params, r.data.tags]) for r in [*runs, parent]]
    records += [(tmp_path / "killed.log").read_text()]
    assert not [s for s in secrets for text in records if s in text]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("fault", ["stopped-server", "missing-bucket"])
def test_an_unreachable_bucket_is_one_line_before_anything_is_written(
    fault, tmp_path, s3_server, monkeypatch, capsys
):
    storage = f"s3://{s3_server.new_bucket()}/x"
    if fault == "stopped-server":
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_closed_port()}")
    else:
        storage = "s3://mtsweep-no-such-bucket/x"
    out = tmp_path / "run"
    assert main(run_argv(TINY_SWEEP, out, "--storage", storage)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert f"storage {storage} cannot be written" in err
    assert not out.exists()


def test_a_torn_latest_checkpoint_in_the_bucket_falls_back_to_the_previous(s3_bucket):
    ckpt = SharedStorage(f"{s3_bucket}/checkpoints/m")
    save_checkpoint(ckpt, {"epoch": 1})
    save_checkpoint(ckpt, {"epoch": 2})
    assert load_checkpoint(ckpt)["epoch"] == 2
    whole = ckpt.read_bytes("latest.pt")
    ckpt.write_bytes("latest.pt", whole[: len(whole) // 2])  # an upload cut short
    assert load_checkpoint(ckpt)["epoch"] == 1
    assert ckpt.keys() == ["latest.pt", "previous.pt"]


def test_logs_finds_the_tune_trial_directories_in_the_bucket(s3_bucket):
    store = SharedStorage(f"{s3_bucket}/sweep")
    for key in (
        "tune/tune-1/0123456789abcdef/error.txt",
        "tune/tune-2/0123456789abcdef/error.pkl",
        "tune/tune-2/fedcba9876543210/error.txt",
        "tune/tune-2/experiment_state-1.json",
    ):
        store.write_bytes(key, b"x")
    assert tune_trial_dirs(store, "0123") == [
        f"{s3_bucket}/sweep/tune/tune-1/0123456789abcdef",
        f"{s3_bucket}/sweep/tune/tune-2/0123456789abcdef",
    ]
