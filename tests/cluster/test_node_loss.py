"""A sweep on a three-node Ray cluster, with its storage in a bucket (a real S3 API on
loopback), survives losing a node mid-sweep.

The head node schedules nothing (0 CPUs); two worker nodes run the trials. Once both are
mid-training with a checkpoint in the bucket (and each has finished a trial), one node is
removed. The sweep must still finish every trial exactly once, and the trial that was on
the lost node must continue from its last checkpoint in the bucket rather than start again.
"""

from __future__ import annotations

import threading
import time

import pytest
from mlflow.tracking import MlflowClient

from mtsweep.shared_storage import SharedStorage
from orchestrator.cli import main
from tests.helpers.cluster import ray_nodes, run_argv
from tests.helpers.mlflow_runs import keys_of, runs_of

pytestmark = pytest.mark.slow


@pytest.fixture
def three_nodes(s3_server):  # the nodes start after the S3 environment is set: they reach it
    with ray_nodes({"num_cpus": 0}, [{"num_cpus": 1}] * 2) as nodes:
        yield nodes


def _progress(storage: SharedStorage) -> tuple[int, int]:
    """(trials done, models checkpointed but not done): one model per trial in this grid."""
    n_ckpt = sum(k.endswith("/latest.pt") for k in storage.keys("checkpoints"))
    n_done = len(storage.keys("results"))
    return n_done, n_ckpt - n_done


def test_node_lost_mid_sweep_resumes_from_checkpoint(tmp_path, sweep_yaml, s3_bucket, three_nodes):
    cluster, workers = three_nodes
    out = tmp_path / "run"
    storage = SharedStorage(f"{s3_bucket}/sweep")
    sweep = sweep_yaml(
        {
            "name": "node-loss",
            "presets.smoke.train": {
                "epochs": 10,
                "batch_size": 8,
                "optimizer": "adam",
                "lr": 0.003,
            },
        }
    )
    killed: dict[str, float] = {}

    def kill_one_node_mid_training() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            done, training = _progress(storage)
            if done >= 2 and training >= 2:  # both workers finished one, both mid-training
                cluster.remove_node(workers[1])
                killed["at"] = time.time()
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one_node_mid_training, daemon=True)
    killer.start()
    argv = ["--address", cluster.address, "--max-failures", "3", "--storage", storage.location]
    code = main(run_argv(sweep, out, *argv))
    killer.join(timeout=5)
    assert killed, "the sweep ended before a node could be removed"
    assert code == 0

    runs = runs_of(f"sqlite:///{out / 'mlflow.db'}", "node-loss/smoke")
    assert len(runs) == 9 and len(set(keys_of(runs))) == 9
    assert all(r.info.status == "FINISHED" for r in runs)
    nodes = {r.data.tags["mtsweep.ray_node"] for r in runs}
    assert len(nodes) == 2, "the trials spread over both worker nodes"
    resumed = [r for r in runs if r.data.metrics["train/resumed_from_epoch"] > 0]
    assert resumed, "the interrupted trial continued from its checkpoint"
    for r in resumed:
        # it finished on the surviving node, after the kill, with the full loss history
        assert r.data.tags["mtsweep.ray_node"] == workers[0].node_id
        assert r.data.metrics["time/ended_unix"] > killed["at"]
        client = MlflowClient(tracking_uri=f"sqlite:///{out / 'mlflow.db'}")
        history = client.get_metric_history(r.info.run_id, "train/loss")
        assert [m.step for m in history] == list(range(10))
        model = r.data.tags["mtsweep.model_key"]
        assert r.data.tags["mtsweep.checkpoint_uri"] == storage.uri(f"checkpoints/{model}")
    assert len(storage.keys("results")) == 9 and not (out / "ray").exists()
