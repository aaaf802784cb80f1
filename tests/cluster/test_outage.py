"""A real ``mlflow server`` stopped for longer than the driver's retry budget, then restarted.

The recorder must neither block Tune's loop for the whole outage nor drop what finished:
results wait in the outbox on disk and are recorded when the server is back, during the
run or, if the run ended first, by the next run. At the end: nine runs, each once, each
with a single loss history. The trials ran two at a time, so results also reached the
server side by side (the driver, its only writer, records them one after another).
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.sweep.lifecycle import run_sweep
from orchestrator.sweep.plan import Request, make_plan
from tests.helpers.cluster import max_overlap
from tests.helpers.drills import HoldWhile
from tests.helpers.mlflow_runs import keys_of, runs_of

pytestmark = pytest.mark.slow

EPOCHS = 4
OUTAGE_S = 3.0  # at least; plus the server's own restart (~10 s): beyond the ~3 s budget below


def test_server_down_longer_than_the_budget_loses_and_doubles_nothing(
    tmp_path, sweep_yaml, server, ray_local, monkeypatch, caplog
):
    import ray.cloudpickle

    import tests.helpers.drills

    # One MLflow call gives up at once on a refused connection, and mtsweep's own retry
    # after 3 s: the test's retry budget, so the outage below outlasts it several times.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "3")
    caplog.set_level(logging.INFO)
    ray.cloudpickle.register_pickle_by_value(tests.helpers.drills)
    sweep = sweep_yaml(
        {
            "name": "outage",
            "presets.smoke.train": {
                "epochs": EPOCHS,
                "batch_size": 8,
                "optimizer": "adam",
                "lr": 3e-3,
            },
        }
    )
    out = tmp_path / "run"
    plan = make_plan(Request(sweep=str(sweep), tracking_uri=server.uri), out=out)
    # Trials that start while the server is away wait at their start until it is back, so
    # the run cannot end before it: the in-flight ones finish during the outage and queue.
    hold = tmp_path / "hold"
    outbox = out / "outbox"
    outage: dict[str, float] = {}

    def stop_after_one_run_then_restart() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                runs = runs_of(server.uri, "outage/smoke")
            except Exception:  # noqa: BLE001 - the experiment may not exist yet
                runs = []
            if sum(r.info.status == "FINISHED" for r in runs) >= 1:
                hold.touch()
                outage["down"] = time.time()
                server.stop()
                time.sleep(OUTAGE_S)
                # down until a trial that was running has finished and been queued (on a
                # loaded machine that takes longer than OUTAGE_S)
                queued_by = time.monotonic() + 120
                while not any(outbox.glob("*.json")) and time.monotonic() < queued_by:
                    time.sleep(0.2)
                server.start()
                outage["up"] = time.time()
                hold.unlink()
                return
            time.sleep(0.2)

    thread = threading.Thread(target=stop_after_one_run_then_restart, daemon=True)
    thread.start()
    states = run_sweep(plan, before_trial=HoldWhile(hold))
    thread.join(timeout=120)
    assert "up" in outage, "the server was stopped and restarted"
    assert states == {"FINISHED": 9}
    assert "is unreachable" in caplog.text, "the recorder noticed the outage"
    assert "queued while MLflow was unreachable" in caplog.text

    runs = runs_of(server.uri, "outage/smoke")
    trial_runs = [r for r in runs if "mtsweep.trial_key" in r.data.tags]
    assert len(trial_runs) == 9 and len(set(keys_of(trial_runs))) == 9
    assert all(r.info.status == "FINISHED" for r in trial_runs)
    spans = [
        (r.data.metrics["time/started_unix"], r.data.metrics["time/ended_unix"]) for r in trial_runs
    ]
    assert max_overlap(spans) >= 2, "trials ran, and so finished, side by side"
    client = MlflowClient(tracking_uri=server.uri)
    for r in trial_runs:
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "train/loss")]
        assert sorted(steps) == list(range(EPOCHS)), steps  # each epoch once, none doubled
        assert "prediction.png" in [a.path for a in client.list_artifacts(r.info.run_id)]
    # Tune kept starting trials while the server was away.
    started = [float(plan.storage.read_bytes(k)) for k in plan.storage.keys("entered")]
    assert any(outage["down"] < t < outage["up"] for t in started)
    assert not list((out / "outbox").glob("*.json"))
