"""Reading a sweep's MLflow runs back in tests (any store: SQLite file or server)."""

from __future__ import annotations

from mlflow.tracking import MlflowClient

TRIAL_KEY = "mtsweep.trial_key"


def _all_runs(tracking_uri: str, experiment: str) -> list:
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    return [] if exp is None else client.search_runs([exp.experiment_id], max_results=1000)


def runs_of(tracking_uri: str, experiment: str) -> list:
    """Every trial run of the experiment (not the sweep's own run); [] when there is none."""
    return [r for r in _all_runs(tracking_uri, experiment) if TRIAL_KEY in r.data.tags]


def sweep_runs_of(tracking_uri: str, experiment: str) -> list:
    """The sweep's own run(s): the parent that holds the reduction."""
    return [
        r for r in _all_runs(tracking_uri, experiment) if r.data.tags.get("mtsweep.role") == "sweep"
    ]


def keys_of(runs: list) -> list[str]:
    return [r.data.tags[TRIAL_KEY] for r in runs]
