"""Fractional GPUs without a GPU: a node that declares one GPU runs 4 trials at 0.25 each.

Ray only books the declared resource, so this checks the scheduling contract a GPU cluster
relies on: never more than four quarter-GPU trials on one card at once, all four slots used,
and every trial sees only the device it was given (CUDA_VISIBLE_DEVICES).
"""

from __future__ import annotations

import pytest

from orchestrator.cli import main
from tests.helpers.cluster import max_overlap, ray_nodes, run_argv
from tests.helpers.mlflow_runs import keys_of, runs_of

pytestmark = pytest.mark.slow


@pytest.fixture
def one_gpu_node():
    with ray_nodes({"num_cpus": 8, "num_gpus": 1}) as (cluster, _):
        yield cluster


def test_quarter_gpus_pack_four_trials_per_gpu(tmp_path, sweep_yaml, one_gpu_node):
    out = tmp_path / "run"
    # Trials long enough (seconds, not one) that the four quarter-GPU slots, whose workers
    # start one after another on a 2-core machine, are all busy at once.
    sweep = sweep_yaml(
        {
            "name": "gpu-pack",
            # six single-task models: more than the four slots, fewer waves than nine
            "models": {"list": [{"train": t} for t in "sdnekr"]},
            "presets.smoke.train": {"epochs": 24, "batch_size": 8, "optimizer": "adam", "lr": 3e-3},
        }
    )
    code = main(
        run_argv(
            sweep,
            out,
            "--address",
            one_gpu_node.address,
            "--gpus-per-trial",
            "0.25",
            "--cpus-per-trial",
            "1",
        )
    )
    assert code == 0
    runs = runs_of(f"sqlite:///{out / 'mlflow.db'}", "gpu-pack/smoke")
    assert len(runs) == 6 and len(set(keys_of(runs))) == 6
    # 8 CPUs would allow 8 trials; the one declared GPU at 0.25 per trial allows 4.
    spans = [(r.data.metrics["time/started_unix"], r.data.metrics["time/ended_unix"]) for r in runs]
    assert max_overlap(spans) == 4
    assert {r.data.tags["mtsweep.cuda_visible_devices"] for r in runs} == {"0"}
