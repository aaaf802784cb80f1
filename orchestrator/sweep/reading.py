"""What a sweep's store says about its trials: the reading side of the life cycle.

``status``, ``logs``, ``export`` and the Python API ask these questions of a plan or of a
recorded run folder (``plan.RunFolder``). Nothing here imports torch, matplotlib or Ray,
and the default SQLite store is read without MLflow's client (``sqlite_file``), so these
commands answer in well under two seconds. A store is opened read-only: asking about a
sweep that never ran creates nothing and says so.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.sweep.plan import REQUEST_FILE
from orchestrator.sweep.store import redact, sqlite_path
from sweeps.spec import TrialSpec
from tasks.errors import MtsweepError

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from orchestrator.sweep.tracking import Tracker

log = logging.getLogger(__name__)

TRIAL_KEY_TAG = "mtsweep.trial_key"
SUPERSEDED_TAG = "mtsweep.superseded"  # set on a trial's old run when --rerun replaces it
ERROR_TAG = "mtsweep.error"


class NoResultsError(MtsweepError):
    """A reading command found no store, or no experiment of the sweep in it."""


class StoreMissingError(MtsweepError):
    """A run folder records a sweep, but the store it recorded into is not there."""


class TrialsAt(Protocol):
    """A plan, or a recorded run folder: the trials and where their store is."""

    sweep_name: str
    out: Path
    specs: list[TrialSpec]
    tracking_uri: str

    @property
    def preset(self) -> str: ...

    @property
    def keys(self) -> list[str]: ...


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


def check_store(plan: TrialsAt) -> None:
    """Refuse a run folder that records a sweep whose SQLite store has gone (moved or
    deleted): its trials would otherwise read as never run."""
    db = sqlite_path(plan.tracking_uri)
    if db is not None and not db.is_file() and (plan.out / REQUEST_FILE).is_file():
        raise StoreMissingError(
            f"{plan.out} records sweep {plan.sweep_name}/{plan.preset}, but its MLflow store "
            f"{db} is missing; put it back, or give --tracking-uri where it is now"
        )


def follow_move(plan: TrialsAt) -> None:
    """A SQLite store whose folder moved: its artifact paths follow (``sqlite_file``)."""
    from orchestrator.sweep.sqlite_file import follow_move as follow

    db = sqlite_path(plan.tracking_uri)
    if db is not None and db.is_file():
        for old in follow(db):
            log.info("the store %s moved from %s: its artifact paths follow it", db, old)


def open_tracker(plan: TrialsAt) -> Tracker:
    """The sweep's store through MLflow: NoResultsError when the sweep never ran. Nothing is
    created; only the artifact paths of a moved folder are corrected."""
    from orchestrator.sweep.tracking import Tracker

    check_store(plan)
    follow_move(plan)
    return Tracker(plan.tracking_uri, plan.sweep_name, plan.preset, create=False)


def runs_by_key(plan: TrialsAt, tracker: Tracker | None = None) -> dict[str, Any]:
    """The run of each trial that has one; a SQLite store is read without MLflow."""
    if tracker is not None:
        return tracker.runs_by_key()
    db = sqlite_path(plan.tracking_uri)
    if db is None:
        return open_tracker(plan).runs_by_key()
    check_store(plan)
    name = experiment_name(plan.sweep_name, plan.preset)
    if not db.is_file():
        raise NoResultsError(f"no results of {name}: no MLflow store at {redact(str(db))}")
    from orchestrator.sweep.sqlite_file import read_runs

    runs = read_runs(db, name)
    if runs is None:
        raise NoResultsError(f"no results of {name} in the MLflow store at {db}")
    return live_runs_by_key(runs)


def trial_states(plan: TrialsAt, runs: dict[str, Any] | None = None) -> Counter[str]:
    """MLflow's state of each planned trial, 'PENDING' where it has no run yet."""
    runs = runs_by_key(plan) if runs is None else runs
    return Counter(runs[k].info.status if k in runs else "PENDING" for k in plan.keys)


def running(
    plan: TrialsAt, runs: dict[str, Any] | None = None
) -> list[tuple[TrialSpec, dict[str, str]]]:
    """(trial, its run's tags) for every trial whose run is RUNNING: epoch i/N, node, start."""
    runs = runs_by_key(plan) if runs is None else runs
    out = []
    for spec in plan.specs:
        run = runs.get(spec.trial_key)
        if run is not None and run.info.status == "RUNNING":
            tags = dict(run.data.tags)
            tags["start_time_ms"] = str(run.info.start_time or 0)
            out.append((spec, tags))
    return out


def failures(
    plan: TrialsAt, runs: dict[str, Any] | None = None
) -> list[tuple[TrialSpec, str, str]]:
    """(trial, error line, run id) for every trial whose run ended FAILED."""
    runs = runs_by_key(plan) if runs is None else runs
    out = []
    for spec in plan.specs:
        run = runs.get(spec.trial_key)
        if run is not None and run.info.status == "FAILED":
            out.append((spec, run.data.tags.get(ERROR_TAG, ""), run.info.run_id))
    return out


def export_trials(plan: TrialsAt, tracker: Tracker | None = None) -> pd.DataFrame:
    """The trials table of the plan's trials (one row per final metric)."""
    table = (tracker or open_tracker(plan)).trials_table()
    return table[table["trial_key"].isin(set(plan.keys))].reset_index(drop=True)
