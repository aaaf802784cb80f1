"""Which MLflow run is a trial's: the names and the rule that the writer (``Tracker``) and
the readers (``reading``) share. Plain data, no MLflow import."""

from __future__ import annotations

from typing import Any

from tasks.errors import MtsweepError

TRIAL_KEY_TAG = "mtsweep.trial_key"
SUPERSEDED_TAG = "mtsweep.superseded"  # set on a trial's old run when --rerun replaces it


class NoResultsError(MtsweepError):
    """A reading command found no store, or no experiment of the sweep in it."""


def experiment_name(sweep: str, preset: str) -> str:
    return f"{sweep}/{preset}"


def live_runs_by_key(runs: list[Any]) -> dict[str, Any]:
    """trial_key → run: a FINISHED run wins over an unfinished one of the same key; runs
    superseded by --rerun are left out."""
    best: dict[str, Any] = {}
    for run in runs:
        key = run.data.tags.get(TRIAL_KEY_TAG)
        if key is None or run.data.tags.get(SUPERSEDED_TAG):
            continue
        if key not in best or run.info.status == "FINISHED":
            best[key] = run
    return best
