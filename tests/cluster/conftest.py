"""A real MLflow tracking server per test, for the cluster-reliability tests."""

from __future__ import annotations

import pytest

from tests.helpers.cluster import MlflowServer


@pytest.fixture
def server(tmp_path):
    srv = MlflowServer(tmp_path / "mlflow")
    srv.start()
    yield srv
    srv.stop()
