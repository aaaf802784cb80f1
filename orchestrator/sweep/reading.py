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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mtsweep.errors import MtsweepError
from orchestrator.sweep.mlflow_schema import experiment_name
from orchestrator.sweep.mlflow_store import redact, sqlite_path
from orchestrator.sweep.plan import REQUEST_FILE
from orchestrator.sweep.snapshot import Snapshot
from orchestrator.sweep.trial_runs import NoResultsError
from orchestrator.sweep.version_spread import version_spread
from sweeps.spec import TrialSpec

if TYPE_CHECKING:
    import pandas as pd

    from orchestrator.sweep.tracking import Tracker

log = logging.getLogger(__name__)


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


def read_snapshot(plan: TrialsAt) -> Snapshot:
    """One read of the sweep's experiment; a SQLite store is read without MLflow."""
    db = sqlite_path(plan.tracking_uri)
    if db is None:
        return open_tracker(plan).snapshot()
    check_store(plan)
    name = experiment_name(plan.sweep_name, plan.preset)
    if not db.is_file():
        raise NoResultsError(f"no results of {name}: no MLflow store at {redact(str(db))}")
    from orchestrator.sweep.sqlite_file import read_runs

    runs = read_runs(db, name)
    if runs is None:
        raise NoResultsError(f"no results of {name} in the MLflow store at {db}")
    return Snapshot.of_runs(runs)


def trial_states(plan: TrialsAt, snapshot: Snapshot | None = None) -> Counter[str]:
    """MLflow's state of each planned trial, 'PENDING' where it has no run yet."""
    return (snapshot or read_snapshot(plan)).states(plan.keys)


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
    versions: dict[str, str] = field(default_factory=dict)  # what its worker ran with


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

    @property
    def version_warning(self) -> str | None:
        """One line when the trials' workers ran with different versions, else None."""
        return version_spread((t.node, t.versions) for t in self.trials if t.versions)


def sweep_status(plan: TrialsAt) -> SweepStatus:
    """The state of each trial of ``plan`` (StoreMissingError if its store has gone)."""
    try:
        snapshot: Snapshot | None = read_snapshot(plan)
    except NoResultsError:
        snapshot = None
    trials = []
    for spec in plan.specs:
        record = None if snapshot is None else snapshot.get(spec.trial_key)
        if record is None:
            trials.append(TrialState(spec.trial_key, spec.label, "PENDING"))
            continue
        trials.append(
            TrialState(
                spec.trial_key,
                spec.label,
                record.status,
                # The raw block, not spec.config: parsing it would load the presets (torch).
                epoch=record.epoch or f"0/{spec.train.get('epochs', 1)}",
                node=None if record.node == "?" else record.node,
                started_ms=record.start_ms,
                error=record.error,
                versions=record.worker_versions,
            )
        )
    return SweepStatus(plan.sweep_name, plan.preset, plan.out, trials, ran=snapshot is not None)


def export_trials(plan: TrialsAt, snapshot: Snapshot | None = None) -> pd.DataFrame:
    """The trials table of the plan's trials (the long format of docs/formats.md)."""
    return (snapshot or read_snapshot(plan)).trials_table(set(plan.keys))
