"""The driver's Tune callback: the only writer to MLflow, and the live progress line.

It opens a trial's MLflow run when the trial starts (RUNNING, with the node it runs on),
logs the loss of each epoch as the trial reports it, and records the final result or the
error when it ends. Results a trial kept in storage but no driver recorded (the driver
died) are recorded by ``ingest_kept_results`` before anything is scheduled.
"""

from __future__ import annotations

import logging
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

from ray import tune

from orchestrator.sweep.progress import Progress
from orchestrator.sweep.tracking import Tracker
from orchestrator.trial.result import KeptResultError, TrialResult, read_kept_result
from sweeps.spec import TrialSpec

log = logging.getLogger(__name__)


def _trial_exception(trial: Any) -> BaseException | None:
    """The exception Tune pickled for the trial: its local copy first (written before the
    callbacks run), else the one synced to storage."""
    from ray import cloudpickle

    path = getattr(trial, "pickled_error_file", None)
    try:
        if path and Path(path).exists():
            with open(path, "rb") as f:
                return cloudpickle.load(f)
        return trial.get_pickled_error()
    except Exception:  # noqa: BLE001 - an unreadable error file must not hide the failure
        return None


def trial_error(trial: Any) -> tuple[str, str]:
    """(one line: the exception's type and message, the full traceback) without Ray's wrapping."""
    err = _trial_exception(trial)
    cause = getattr(err, "cause", None) or err
    if cause is None:
        return "trial failed (see Ray's error file for the trace)", ""
    lines = str(cause).strip().splitlines()
    line = f"{type(cause).__name__}: {lines[-1] if lines else ''}"[:2000]
    full = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    return line, (full or str(err))


class MlflowRecorder(tune.Callback):
    """Runs in the driver: records every trial of ``specs`` in ``tracker``, exactly once."""

    def __init__(self, tracker: Tracker, specs: dict[str, TrialSpec], progress: Progress):
        self.tracker = tracker
        self.specs = specs
        self.progress = progress
        self.states: dict[str, str] = {}

    def _counts(self, trials: list[Any]) -> Counter[str]:
        c: Counter[str] = Counter()
        for t in trials:
            key = t.config["trial_key"]
            if self.states.get(key) in ("done", "failed"):
                c[self.states[key]] += 1
            elif t.status == "RUNNING":
                c["running"] += 1
        return c

    def _safely(self, what: str, key: str, fn) -> bool:
        try:
            fn()
            return True
        except Exception:  # noqa: BLE001 - recording must never stop the sweep
            log.error(
                "could not %s of trial %s in MLflow (the next 'mtsweep run' records it):\n%s",
                what,
                key,
                traceback.format_exc(limit=2),
            )
            return False

    def on_step_end(self, iteration, trials, **info):
        self.progress.update(self._counts(trials))

    def on_trial_start(self, iteration, trials, trial, **info):
        key = trial.config["trial_key"]
        node = getattr(trial, "node_ip", None) or ""
        self._safely(
            "record the start", key, lambda: self.tracker.start_run(self.specs[key], {"node": node})
        )

    def on_trial_result(self, iteration, trials, trial, result, **info):
        key = trial.config["trial_key"]
        if "epoch" not in result or "result_json" in result:
            return
        spec = self.specs[key]
        self._safely(
            "record an epoch",
            key,
            lambda: self.tracker.log_epoch(
                spec, int(result["epoch"]), float(result["train_loss"]), int(result["epochs"])
            ),
        )

    def on_trial_complete(self, iteration, trials, trial, **info):
        key = trial.config["trial_key"]
        raw = (trial.last_result or {}).get("result_json")
        if raw is None:
            return
        try:
            result = TrialResult.from_json(raw, trial_key=key)
        except KeptResultError as e:
            log.error("trial %s reported an invalid result (%s); it runs again next time", key, e)
            self.states[key] = "failed"
            return
        self._safely(
            "record the result", key, lambda: self.tracker.log_result(self.specs[key], result)
        )
        self.states[key] = "done"
        self.progress.update(self._counts(trials))

    def on_trial_error(self, iteration, trials, trial, **info):
        key = trial.config["trial_key"]
        line, full = trial_error(trial)
        self.states[key] = "failed"
        log.warning("trial %s (%s) failed: %s", key, self.specs[key].label, line)
        self._safely(
            "record the failure", key, lambda: self.tracker.log_failure(self.specs[key], line, full)
        )
        self.progress.update(self._counts(trials), force=True)


def ingest_kept_results(
    tracker: Tracker, specs: list[TrialSpec], storage: Path, finished: set[str]
) -> set[str]:
    """Record results that trials finished but an earlier driver never logged."""
    recorded = set()
    for spec in specs:
        if spec.trial_key in finished:
            continue
        result = read_kept_result(storage, spec.trial_key)
        if result is not None:
            tracker.log_result(spec, result)
            recorded.add(spec.trial_key)
    if recorded:
        log.info("recorded %d finished trial(s) kept from an earlier run", len(recorded))
    return recorded
