"""The driver's Tune callback: the only writer to MLflow, and the live progress line.

It opens a trial's MLflow run when the trial starts (RUNNING), records the node the worker
reports from and the versions it runs with before it trains, logs the loss of each epoch as
the trial reports it, and records the final result or the error when it ends. Results a
trial kept in storage but no driver recorded (the driver died) are recorded by
``ingest_kept_results`` before anything is scheduled.

While MLflow does not answer, the recorder does not wait on it: a call that failed for good
marks the store down, finished results and failures go to the outbox on disk, live updates
(start, node and versions, epochs) are skipped (the final result carries the whole loss history), and Tune
keeps starting trials. Every ``PROBE_EVERY_S`` it asks the server's ``/health`` once; when
the server answers, the outbox is recorded and says so.
"""

from __future__ import annotations

import json
import logging
import re
import time
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from mtsweep.shared_storage import SharedStorage
from orchestrator.sweep.mlflow_store import redact, server_down_reason
from orchestrator.sweep.outbox import Outbox
from orchestrator.sweep.progress import Progress
from orchestrator.sweep.tracking import Tracker
from orchestrator.sweep.trial_report import (
    FAILED_LINE,
    FAILED_TRACE,
    NODE_REPORT,
    VERSIONS_REPORT,
    error_line,
)
from orchestrator.trial.result import KeptResultError, TrialResult, read_kept_result
from sweeps.spec import TrialSpec

log = logging.getLogger(__name__)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # Ray colours its task errors

PROBE_EVERY_S = 5.0  # how often a recorder asks a down tracking server whether it is back


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
    line = error_line(cause)
    # The worker's frames travel as the text of Ray's task error: an unpickled exception
    # has no traceback of its own.
    frames = _ANSI.sub("", str(err)) if err is not cause else ""
    local = "".join(traceback.format_exception(type(cause), cause, cause.__traceback__))
    return line, f"Traceback from the worker:\n{frames}" if frames else local


class MlflowRecorder(tune.Callback):
    """Runs in the driver: records every trial of ``specs`` in ``tracker``, exactly once."""

    def __init__(
        self,
        tracker: Tracker,
        specs: dict[str, TrialSpec],
        progress: Progress,
        outbox: Outbox | None = None,
        probe_every: float = PROBE_EVERY_S,
    ):
        self.tracker = tracker
        self.specs = specs
        self.progress = progress
        self.states: dict[str, str] = {}
        self.outbox = outbox
        self.probe_every = probe_every
        self.down_since: float | None = None  # monotonic time MLflow was found down
        self._next_probe = 0.0

    def _counts(self, trials: list[Any]) -> Counter[str]:
        c: Counter[str] = Counter()
        for t in trials:
            key = t.config["trial_key"]
            if self.states.get(key) in ("done", "failed"):
                c[self.states[key]] += 1
            elif t.status == "RUNNING":
                c["running"] += 1
        return c

    def _safely(
        self, what: str, key: str, fn: Callable[[], object], queue: Callable[[], None] | None = None
    ) -> bool:
        """Record with ``fn``; when MLflow is down (or refuses), ``queue`` it in the outbox."""
        if self.down_since is not None and self.outbox is not None:
            if queue is not None:
                queue()
            return False
        try:
            fn()
            return True
        except Exception:  # noqa: BLE001 - recording must never stop the sweep
            later = "queued in the outbox" if queue and self.outbox else "the next run records it"
            reason = server_down_reason(self.tracker.uri) if self.outbox is not None else None
            if reason is None:  # the store answered but refused: keep the trace
                log.error(
                    "could not %s of trial %s in MLflow (%s):\n%s",
                    what,
                    key,
                    later,
                    traceback.format_exc(limit=2),
                )
            if queue is not None and self.outbox is not None:
                queue()
            if reason is not None:
                self.down_since = time.monotonic()
                self._next_probe = self.down_since + self.probe_every
                log.warning(
                    "MLflow at %s is unreachable (%s) to %s of trial %s: trials keep running, "
                    "results wait in %s",
                    redact(self.tracker.uri),
                    reason,
                    what,
                    key,
                    self.outbox.dir,
                )
            return False

    def _probe(self) -> None:
        """While MLflow is down: ask once every ``probe_every`` s; when back, record the queue."""
        if self.down_since is None or time.monotonic() < self._next_probe:
            return
        self._next_probe = time.monotonic() + self.probe_every
        if server_down_reason(self.tracker.uri, timeout=2.0) is not None:
            return
        log.info(
            "MLflow at %s is back after %.0f s; recording %d queued result(s)",
            redact(self.tracker.uri),
            time.monotonic() - self.down_since,
            len(self.outbox or ()),
        )
        self.down_since = None
        self.flush()

    def flush(self) -> None:
        """Record the outbox now (at the end of a run, or when MLflow is back)."""
        if self.outbox is None or not len(self.outbox):
            return
        try:
            self.outbox.drain(self.tracker, self.specs)
        except Exception as e:  # noqa: BLE001 - still down: the queue waits for the next run
            log.warning(
                "MLflow still refuses (%s); %d result(s) stay queued in %s",
                str(e)[:200],
                len(self.outbox),
                self.outbox.dir,
            )
            if self.down_since is None:
                self.down_since = time.monotonic()
            self._next_probe = time.monotonic() + self.probe_every

    def on_step_end(self, iteration, trials, **info):
        self._probe()
        self.progress.update(self._counts(trials))

    def on_trial_start(self, iteration, trials, trial, **info):
        key = trial.config["trial_key"]
        # Ray 2.x often knows no node yet here; the worker's first report names it.
        placement = {"node": getattr(trial, "node_ip", None) or ""}
        self._safely(
            "record the start", key, lambda: self.tracker.start_run(self.specs[key], placement)
        )

    def on_trial_result(self, iteration, trials, trial, result, **info):
        key = trial.config["trial_key"]
        spec = self.specs[key]
        if NODE_REPORT in result:
            node = str(result[NODE_REPORT])
            versions = json.loads(result.get(VERSIONS_REPORT) or "{}")
            self._safely(
                "record the node and versions",
                key,
                lambda: self.tracker.set_node(spec, node, versions),
            )
            return
        if "epoch" not in result or "result_json" in result:
            return
        self._safely(
            "record an epoch",
            key,
            lambda: self.tracker.log_epoch(
                spec, int(result["epoch"]), float(result["train_loss"]), int(result["epochs"])
            ),
        )

    def on_trial_complete(self, iteration, trials, trial, **info):
        key = trial.config["trial_key"]
        last = trial.last_result or {}
        if FAILED_LINE in last:  # failed for good (bad data or settings): not retried
            self._failed(trials, key, last[FAILED_LINE], last.get(FAILED_TRACE, ""))
            return
        raw = last.get("result_json")
        if raw is None:
            return
        try:
            result = TrialResult.from_json(raw, trial_key=key)
        except KeptResultError as e:
            log.error("trial %s reported an invalid result (%s); it runs again next time", key, e)
            self.states[key] = "failed"
            return
        self._safely(
            "record the result",
            key,
            lambda: self.tracker.log_result(self.specs[key], result),
            queue=None if self.outbox is None else lambda: self.outbox.put_result(result),
        )
        self.states[key] = "done"
        self.progress.update(self._counts(trials))

    def on_trial_recover(self, iteration, trials, trial, **info):
        key = trial.config["trial_key"]
        line, _ = trial_error(trial)
        log.info("trial %s (%s) failed (%s); trying again", key, self.specs[key].label, line)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._failed(trials, trial.config["trial_key"], *trial_error(trial))

    def _failed(self, trials: list[Any], key: str, line: str, full: str) -> None:
        """One line on the console; the traceback goes to MLflow (``mtsweep logs``)."""
        self.states[key] = "failed"
        log.warning("trial %s (%s) failed: %s", key, self.specs[key].label, line)
        self._safely(
            "record the failure",
            key,
            lambda: self.tracker.log_failure(self.specs[key], line, full),
            queue=None if self.outbox is None else lambda: self.outbox.put_failure(key, line, full),
        )
        self.progress.update(self._counts(trials), force=True)


def ingest_kept_results(
    tracker: Tracker, specs: list[TrialSpec], storage: SharedStorage, finished: set[str]
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
