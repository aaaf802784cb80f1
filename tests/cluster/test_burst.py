"""Trials finishing side by side against a real ``mlflow server``: none lost, none doubled.

Only the driver writes to the tracking store, so simultaneous finishes queue in one process
instead of contending on the server.
"""

from __future__ import annotations

import pytest
import ray
from ray.cluster_utils import Cluster

from orchestrator.cli import main
from tests.helpers.cluster import max_overlap, run_argv
from tests.helpers.mlflow_runs import keys_of, runs_of

pytestmark = pytest.mark.slow


def test_many_trials_finishing_at_once(tmp_path, sweep_yaml, server):
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 4})
    try:
        sweep = sweep_yaml(
            {
                "name": "burst",
                "presets.smoke.train": {
                    "epochs": 3,
                    "batch_size": 8,
                    "optimizer": "adam",
                    "lr": 3e-3,
                },
            }
        )
        code = main(
            run_argv(
                sweep,
                tmp_path / "run",
                "--tasks",
                "s,d",
                "--address",
                cluster.address,
                "--tracking-uri",
                server.uri,
            )
        )
    finally:
        ray.shutdown()
        cluster.shutdown()
    assert code == 0
    runs = runs_of(server.uri, "burst/smoke")
    assert len(runs) == 4 and len(set(keys_of(runs))) == 4
    assert all(r.info.status == "FINISHED" for r in runs)
    spans = [(r.data.metrics["time/started_unix"], r.data.metrics["time/ended_unix"]) for r in runs]
    assert max_overlap(spans) >= 2, "trials ran, and so finished, side by side"
