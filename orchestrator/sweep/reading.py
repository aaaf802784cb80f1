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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from orchestrator.sweep.plan import REQUEST_FILE
from orchestrator.sweep.store import redact, sqlite_path
from orchestrator.sweep.trial_runs import NoResultsError, experiment_name, live_runs_by_key
from sweeps.spec import TrialSpec
from tasks.errors import MtsweepError

if TYPE_CHECKING:
    import pandas as pd

    from orchestrator.sweep.tracking import Tracker

log = logging.getLogger(__name__)

ERROR_TAG = "mtsweep.error"
EPOCH_TAG = "mtsweep.epoch"
NODE_TAG = "mtsweep.node"
HOST_TAG = "mtsweep.host"  # the worker's host (runs of release 0.1.0)


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


@dataclass(frozen=True)
class TrialState:
    """One trial as its store has it: MLflow's state ('PENDING' before it first starts)."""

    trial_key: str
    label: str
    state: str
    epoch: str | None = None  # "i/N" while it trains
    node: str | None = None
    started_ms: int = 0
    error: str = ""  # a failed trial's one line


@dataclass(frozen=True)
class SweepStatus:
    """Every trial of a sweep by state; ``ran`` is False while nothing has run yet."""

    sweep: str
    preset: str
    out: Path
    trials: list[TrialState]
    ran: bool = True

    @property
    def states(self) -> Counter[str]:
        return Counter(t.state for t in self.trials)

    def of(self, state: str) -> list[TrialState]:
        return [t for t in self.trials if t.state == state]


def sweep_status(plan: TrialsAt) -> SweepStatus:
    """The state of each trial of ``plan`` (StoreMissingError if its store has gone)."""
    try:
        runs = runs_by_key(plan)
    except NoResultsError:
        runs = None
    trials = []
    for spec in plan.specs:
        run = (runs or {}).get(spec.trial_key)
        if run is None:
            trials.append(TrialState(spec.trial_key, spec.label, "PENDING"))
            continue
        tags = run.data.tags
        trials.append(
            TrialState(
                spec.trial_key,
                spec.label,
                run.info.status,
                # The raw block, not spec.config: parsing it would load the presets (torch).
                epoch=tags.get(EPOCH_TAG) or f"0/{spec.train.get('epochs', 1)}",
                node=tags.get(NODE_TAG) or tags.get(HOST_TAG) or None,
                started_ms=int(run.info.start_time or 0),
                error=tags.get(ERROR_TAG, ""),
            )
        )
    return SweepStatus(plan.sweep_name, plan.preset, plan.out, trials, ran=runs is not None)


def export_trials(plan: TrialsAt, tracker: Tracker | None = None) -> pd.DataFrame:
    """The trials table of the plan's trials (one row per final metric)."""
    table = (tracker or open_tracker(plan)).trials_table()
    return table[table["trial_key"].isin(set(plan.keys))].reset_index(drop=True)
