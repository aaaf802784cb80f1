"""Against a real ``mlflow server``: a restart mid-sweep loses no result and duplicates none."""

from __future__ import annotations

import threading
import time

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from tests.helpers.cluster import run_argv
from tests.helpers.mlflow_runs import keys_of, runs_of

pytestmark = pytest.mark.slow


def test_server_restarted_mid_sweep_loses_nothing(tmp_path, sweep_yaml, server, ray_local):
    sweep = sweep_yaml(
        {
            "name": "server-restart",
            "presets.smoke.train": {"epochs": 4, "batch_size": 8, "optimizer": "adam", "lr": 3e-3},
        }
    )
    restarted: dict[str, int] = {}

    def restart_after_two_runs() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                done = [
                    r
                    for r in runs_of(server.uri, "server-restart/smoke")
                    if r.info.status == "FINISHED"
                ]
            except Exception:  # noqa: BLE001 - the experiment may not exist yet
                done = []
            if len(done) >= 2:
                restarted["finished_before"] = len(done)
                server.stop()
                time.sleep(3)  # trials keep finishing while the server is down
                server.start()
                return
            time.sleep(0.2)

    thread = threading.Thread(target=restart_after_two_runs, daemon=True)
    thread.start()
    code = main(run_argv(sweep, tmp_path / "run", "--tracking-uri", server.uri))
    thread.join(timeout=120)
    assert restarted and restarted["finished_before"] < 9, "the server was restarted mid-sweep"
    assert code == 0
    runs = runs_of(server.uri, "server-restart/smoke")
    assert len(runs) == 9 and len(set(keys_of(runs))) == 9
    assert all(r.info.status == "FINISHED" for r in runs)
    client = MlflowClient(tracking_uri=server.uri)
    for r in runs:
        assert "prediction.png" in [a.path for a in client.list_artifacts(r.info.run_id)]
    # and the same command again has nothing to do
    assert main(run_argv(sweep, tmp_path / "run", "--tracking-uri", server.uri)) == 0
    assert len(runs_of(server.uri, "server-restart/smoke")) == 9
