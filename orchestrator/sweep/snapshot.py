"""One read of a sweep's experiment, handed to every check a command makes.

A command searches the experiment once (``Tracker.snapshot``) and asks this view which
trials finished, under which code they were recorded, what state each is in, and what the
trials table holds. The driver is the experiment's only writer (the lease keeps it so), so
while it runs, the tracker updates its snapshot with what it writes instead of searching
again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from orchestrator.sweep.mlflow_schema import ROLE, SUPERSEDED, SWEEP_ROLE, TRIAL_KEY, TrialRecord


class Snapshot:
    """Trial runs by trial_key (live ones only) and the sweep's own run, as read once."""

    def __init__(self, trials: dict[str, TrialRecord], sweep_run_id: str | None = None):
        self.trials = trials
        self.sweep_run_id = sweep_run_id

    @classmethod
    def of_runs(cls, runs: Iterable[Any]) -> Snapshot:
        """From MLflow runs: a FINISHED run wins over an unfinished one of the same key;
        runs superseded by --rerun are left out."""
        trials: dict[str, TrialRecord] = {}
        sweep_run: Any = None
        for run in runs:
            tags = run.data.tags
            if tags.get(ROLE) == SWEEP_ROLE:
                if sweep_run is None or run.info.start_time < sweep_run.info.start_time:
                    sweep_run = run  # the first one made, should two ever exist
                continue
            key = tags.get(TRIAL_KEY)
            if key is None or tags.get(SUPERSEDED):
                continue
            if key not in trials or run.info.status == "FINISHED":
                trials[key] = TrialRecord.of(run)
        return cls(trials, None if sweep_run is None else sweep_run.info.run_id)

    def get(self, key: str) -> TrialRecord | None:
        return self.trials.get(key)

    def finished_keys(self) -> set[str]:
        return {k for k, r in self.trials.items() if r.finished}

    def states(self, keys: Iterable[str]) -> Counter[str]:
        """MLflow's state of each of ``keys``, 'PENDING' where it has no run yet."""
        return Counter(self.trials[k].status if k in self.trials else "PENDING" for k in keys)

    def recorded_under(self, keys: set[str], tag: str) -> dict[str, int]:
        """How many FINISHED runs of ``keys`` carry each value of ``tag`` ('' when unset)."""
        counts: dict[str, int] = {}
        for key in keys:
            record = self.trials.get(key)
            if record is not None and record.finished:
                value = record.tags.get(tag, "")
                counts[value] = counts.get(value, 0) + 1
        return counts

    def trials_table(self, keys: set[str] | None = None):
        """The trials table: one row per final metric of every FINISHED run (of ``keys``)."""
        import pandas as pd

        from orchestrator.reductions.table import TRIALS_COLUMNS

        rows = []
        for key, record in sorted(self.trials.items()):
            if not record.finished or (keys is not None and key not in keys):
                continue
            identity = record.identity(key)
            for eval_name, task, metric, value in record.final_metrics():
                rows.append(
                    {**identity, "eval": eval_name, "task": task, "metric": metric, "value": value}
                )
        return pd.DataFrame(rows, columns=list(TRIALS_COLUMNS))

    # ------------------------------------------------------------ the writer's updates
    def note(self, key: str, record: TrialRecord) -> None:
        self.trials[key] = record

    def forget(self, key: str) -> None:
        self.trials.pop(key, None)
