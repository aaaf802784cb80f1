"""The documented MLflow server runs its basic-auth app: who is not logged in cannot write.

MLflow's FINISHED state decides which trials a resume skips, so an open server lets anyone
on the network skip or force trials. docs/cluster.md §3 runs ``mlflow server --app-name
basic-auth``; this starts exactly that on loopback and checks that a request without
credentials is refused while the driver, given them through MLflow's environment, works.
"""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from orchestrator.sweep.mlflow_store import TrackingError
from orchestrator.sweep.tracking import Tracker
from tests.helpers.cluster import MlflowServer

pytestmark = pytest.mark.slow

PASSWORD = "a-long-test-password-1234"


@pytest.fixture
def auth_server(tmp_path):
    config = tmp_path / "basic_auth.ini"
    config.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = sqlite:///{tmp_path / 'auth.db'}\n"
        "admin_username = admin\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    env = {
        "MLFLOW_AUTH_CONFIG_PATH": str(config),
        "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-csrf-key",
    }
    srv = MlflowServer(tmp_path / "mlflow", extra_args=("--app-name", "basic-auth"), env=env)
    srv.start()
    yield srv
    srv.stop()


def test_an_unauthenticated_request_is_refused(auth_server, monkeypatch):
    search = f"{auth_server.uri}/api/2.0/mlflow/experiments/search?max_results=1"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(search, timeout=10)
    assert refused.value.code == 401

    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(TrackingError, match="MLflow at"):
        Tracker(auth_server.uri, "tiny-pairs", "smoke")

    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    tracker = Tracker(auth_server.uri, "tiny-pairs", "smoke")
    assert tracker.snapshot().finished_keys() == set()
