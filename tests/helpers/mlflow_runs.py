"""Reading a sweep's MLflow runs back in tests (any store: SQLite file or server)."""

from __future__ import annotations

from mlflow.tracking import MlflowClient


def runs_of(tracking_uri: str, experiment: str) -> list:
    """Every run of the experiment; [] when the experiment does not exist."""
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id], max_results=1000)


def keys_of(runs: list) -> list[str]:
    return [r.data.tags["mtsweep.trial_key"] for r in runs]
