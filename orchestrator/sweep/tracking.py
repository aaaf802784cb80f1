"""MLflow, written only by the driver: one run per trial, identified by its trial_key,
nested under one run of the sweep itself. Every MLflow call of mtsweep goes through here.

Logging is idempotent: a FINISHED run is never logged again; a run left RUNNING or FAILED
by an earlier attempt is reused rather than duplicated; and what a run already holds (final
metrics, steps of the loss history, params) is read before anything is written, so a
result recorded twice — after a driver died half-way through recording it — leaves one copy.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.sweep.mlflow_schema import (
    EPOCH,
    ERROR,
    ERROR_FILE,
    NODE,
    PARENT,
    REQUEST_DIR,
    RESULTS_DIR,
    SUMMARY,
    SUPERSEDED,
    TAG,
    TRIAL_KEY,
    WORKER,
    TrialRecord,
    experiment_name,
    run_name,
    sweep_tags,
    trial_params,
    trial_tags,
)
from orchestrator.sweep.mlflow_store import (
    TrackingError,
    bound_http_retries,
    check_tracking_uri,
    create_sqlite_store,
    local_artifact_location,
    redact,
    store_exists,
)
from orchestrator.sweep.snapshot import Snapshot
from orchestrator.sweep.trial_runs import NoResultsError
from orchestrator.trial.result import TrialResult
from sweeps.spec import TrialSpec

log = logging.getLogger(__name__)

T = TypeVar("T")


def _retrying(fn: Callable[[], T], what: str, attempts: int = 2, wait: float = 3.0) -> T:
    """Ride out a tracking server that restarts, then give up loudly.

    MLflow retries each HTTP call itself (bounded by ``bound_http_retries``: about half a
    minute), so two attempts bound one logical call to about a minute; a longer outage is
    the recorder's to handle (it queues results on disk and keeps scheduling).
    """
    for i in range(attempts):
        try:
            return fn()
        except (MlflowException, OSError) as e:
            if i == attempts - 1:
                raise
            log.warning("MLflow %s failed (%s); retrying in %.0f s", what, str(e)[:120], wait)
            time.sleep(wait)
            wait = min(wait * 2, 30.0)
    raise AssertionError("unreachable")


def _run_tags(tags: dict[str, str]) -> list[RunTag]:
    return [RunTag(k, v) for k, v in tags.items()]


class Tracker:
    """The driver's handle on one sweep's MLflow experiment.

    ``create=False`` (status, export, reduce) opens only what is there: no store file and no
    experiment is created, and a missing one is a NoResultsError. ``run_tags`` (code
    version, data fingerprint) go on every trial run this tracker writes.
    """

    def __init__(
        self,
        tracking_uri: str,
        sweep: str,
        preset: str,
        create: bool = True,
        run_tags: Mapping[str, str] | None = None,
    ):
        self.uri = tracking_uri
        name = experiment_name(sweep, preset)
        if not create and not store_exists(tracking_uri):
            raise NoResultsError(f"no results of {name}: no MLflow store at {tracking_uri}")
        bound_http_retries()
        check_tracking_uri(tracking_uri)
        if create:
            create_sqlite_store(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        try:
            exp = _retrying(lambda: self.client.get_experiment_by_name(name), "lookup")
        except (MlflowException, OSError) as e:  # refused (auth) or gone since pre-flight
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise TrackingError(f"MLflow at {redact(tracking_uri)}: {first[:300]}") from None
        if exp is None and not create:
            raise NoResultsError(f"no results of {name} in the MLflow store at {tracking_uri}")
        self.experiment_id = (
            exp.experiment_id
            if exp
            else _retrying(
                lambda: self.client.create_experiment(
                    name, artifact_location=local_artifact_location(tracking_uri)
                ),
                "create experiment",
            )
        )
        self.run_tags = dict(run_tags or {})
        self._run_ids: dict[str, str] = {}
        self._sweep_run_id: str | None = None  # the sweep's own run, once opened
        self._view: Snapshot | None = None  # the last snapshot, kept current by the writes

    # ------------------------------------------------------------ reading
    def snapshot(self) -> Snapshot:
        """Search the experiment once (all pages); the writes that follow keep it current."""
        runs, token = [], None
        while True:
            page = _retrying(
                lambda t=token: self.client.search_runs(
                    [self.experiment_id], max_results=1000, page_token=t
                ),
                "search",
            )
            runs.extend(page)
            token = page.token
            if not token:
                break
        self._view = Snapshot.of_runs(runs)
        return self._view

    def end_open_runs(self, keys: set[str]) -> list[str]:
        """End the runs of ``keys`` left RUNNING as KILLED (the driver was interrupted);
        their keys. A resume reuses each such run: a trial keeps one run however often it
        stops. The experiment is read again first: the signal can land while the recorder
        is creating a run, before the driver's own copy knows of it. A store that cannot be
        read or written is a TrackingError (its runs stay RUNNING; a resume reuses them)."""
        ended: list[str] = []
        try:
            snapshot = self.snapshot()
            for key in sorted(keys):
                record = snapshot.get(key)
                if record is not None and record.status == "RUNNING":
                    _retrying(  # patient: workers being stopped may hold the SQLite lock
                        lambda i=record.run_id: self.client.set_terminated(i, "KILLED"),
                        "end run",
                        attempts=5,
                    )
                    record.status = "KILLED"
                    ended.append(key)
        except (MlflowException, OSError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise TrackingError(
                f"MLflow at {redact(self.uri)}: {len(ended)} running trial(s) marked "
                f"interrupted, the others not ({first[:200]})"
            ) from None
        return ended

    def traceback_of(self, record: TrialRecord) -> str | None:
        """A failed trial's full traceback (its artifact), None when it has none."""
        names = {
            a.path for a in _retrying(lambda: self.client.list_artifacts(record.run_id), "list")
        }
        if ERROR_FILE not in names:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            local = _retrying(
                lambda: self.client.download_artifacts(record.run_id, ERROR_FILE, tmp), "download"
            )
            return Path(local).read_text()

    # ------------------------------------------------------------ the sweep's own run
    def open_sweep_run(self, snapshot: Snapshot, sweep: str, preset: str) -> str:
        """The sweep's parent run (created once); trial runs created from now on nest under it."""
        run_id = snapshot.sweep_run_id
        if run_id is None:
            created = _retrying(
                lambda: self.client.create_run(
                    self.experiment_id, tags=sweep_tags(sweep, preset), run_name=f"{sweep}/{preset}"
                ),
                "create the sweep's run",
            )
            run_id = snapshot.sweep_run_id = created.info.run_id
        self._sweep_run_id = run_id
        return run_id

    def describe_sweep(
        self, params: dict[str, str], tags: dict[str, str], artifacts: dict[str, bytes]
    ) -> None:
        """Params, tags and files of the sweep's run: what was asked, and with what code.

        MLflow keeps a param's first value for good, so a param the run already holds is left
        as it is; the files (under ``request/``) always hold the latest request.
        """
        run_id = self._sweep_run()
        held = _retrying(lambda: self.client.get_run(run_id), "get run").data.params
        new = [Param(k, v) for k, v in params.items() if k not in held]
        changed = sorted(k for k, v in params.items() if k in held and held[k] != v)
        if changed:
            log.info("the sweep's run keeps its first %s; request/ holds this one", changed[:3])
        self._log_batches(run_id, "log the request", params=new, tags=_run_tags(tags))
        self._log_artifacts(run_id, artifacts, REQUEST_DIR)

    def record_reduction(self, files: list[Path], summary: str, metrics: dict[str, float]) -> None:
        """Attach the reduction's files and summary numbers to the sweep's run; it ends FINISHED."""
        run_id = self._sweep_run()
        now = int(time.time() * 1000)
        for path in files:
            _retrying(
                lambda p=path: self.client.log_artifact(run_id, str(p), artifact_path=RESULTS_DIR),
                "artifact",
            )
        values = [Metric(k, float(v), now, 0) for k, v in metrics.items()]
        self._log_batches(run_id, "log the summary", values, tags=[RunTag(SUMMARY, summary[:5000])])
        _retrying(lambda: self.client.set_terminated(run_id, "FINISHED"), "finish the sweep's run")

    def _sweep_run(self) -> str:
        if self._sweep_run_id is None:
            raise RuntimeError("open_sweep_run comes first")
        return self._sweep_run_id

    def supersede(self, snapshot: Snapshot, keys: Iterable[str], stamp: str) -> int:
        """Mark the live runs of ``keys`` superseded (they stay in the store); returns how many."""
        retired = 0
        for key in keys:
            record = snapshot.get(key)
            if record is None:
                continue
            _retrying(
                lambda r=record.run_id: self.client.set_tag(r, SUPERSEDED, stamp), "supersede"
            )
            snapshot.forget(key)
            self._run_ids.pop(key, None)
            retired += 1
        return retired

    # ------------------------------------------------------------ trial runs
    def _runs_of(self, spec: TrialSpec) -> list[Any]:
        """The trial's live runs (not superseded by --rerun), found by its key."""
        runs = _retrying(
            lambda: self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{TRIAL_KEY}` = '{spec.trial_key}'",
                max_results=50,
            ),
            "search",
        )
        return [r for r in runs if not r.data.tags.get(SUPERSEDED)]

    def _find_run(self, spec: TrialSpec) -> Any | None:
        runs = self._runs_of(spec)
        finished = [r for r in runs if r.info.status == "FINISHED"]
        return (finished or runs or [None])[0]

    def _run_for(self, spec: TrialSpec) -> tuple[str, bool]:
        """(run id, already finished) for a trial, creating the run if there is none.

        A create whose response was lost may still have made the run: after a failed
        create, the run is looked up by its key before another is created.
        """
        run = self._find_run(spec)
        if run is not None:
            self._run_ids[spec.trial_key] = run.info.run_id
            return run.info.run_id, run.info.status == "FINISHED"
        for attempt in range(2):
            try:
                tags = trial_tags(spec)
                if self._sweep_run_id:
                    tags[PARENT] = self._sweep_run_id
                created = self.client.create_run(
                    self.experiment_id, tags=tags, run_name=run_name(spec)
                )
                run_id = self._one_run(spec, created.info.run_id)
                self._run_ids[spec.trial_key] = run_id
                return run_id, False
            except (MlflowException, OSError) as e:
                log.warning("MLflow create run failed (%s); looking it up", str(e)[:120])
                time.sleep(2.0 * (attempt + 1))
                run = self._find_run(spec)
                if run is not None:
                    self._run_ids[spec.trial_key] = run.info.run_id
                    return run.info.run_id, run.info.status == "FINISHED"
        raise MlflowException(f"could not create the run of trial {spec.trial_key}")

    def _one_run(self, spec: TrialSpec, created: str) -> str:
        """The trial's single run after a create: a retried POST whose first response was
        lost can leave two; the oldest is kept, the others deleted."""
        runs = self._runs_of(spec)
        if len(runs) <= 1:
            return created
        keep = min(runs, key=lambda r: (r.info.start_time or 0, r.info.run_id))
        for r in runs:
            if r.info.run_id != keep.info.run_id:
                log.warning(
                    "trial %s had a duplicate run %s; deleted", spec.trial_key, r.info.run_id
                )
                _retrying(lambda i=r.info.run_id: self.client.delete_run(i), "delete run")
        return keep.info.run_id

    def _note(self, spec: TrialSpec, run_id: str, status: str, tags: dict[str, str]) -> None:
        """Keep the last snapshot current with what was just written (no search)."""
        if self._view is None:
            return
        record = self._view.get(spec.trial_key)
        if record is None or record.run_id != run_id:
            record = TrialRecord(run_id, status, start_ms=int(time.time() * 1000))
        record.status = status
        record.tags.update(tags)
        self._view.note(spec.trial_key, record)

    def start_run(self, spec: TrialSpec, placement: dict[str, str]) -> str | None:
        """Mark a trial RUNNING as it starts (the UI shows it live); None if already finished."""
        run_id, done = self._run_for(spec)
        if done:
            return None
        tags = {**trial_tags(spec), **self._placement(placement), **self.run_tags, ERROR: ""}
        self._log_batches(run_id, "tags", tags=_run_tags(tags))
        _retrying(lambda: self.client.update_run(run_id, status="RUNNING"), "start run")
        self._note(spec, run_id, "RUNNING", tags)
        return run_id

    @staticmethod
    def _placement(placement: dict[str, str]) -> dict[str, str]:
        """Where a trial runs, as tags; an unknown (empty) value does not hide a known one."""
        return {f"{TAG}{k}": str(v) for k, v in placement.items() if str(v)}

    def set_node(
        self, spec: TrialSpec, node: str, versions: Mapping[str, str] | None = None
    ) -> None:
        """The node a running trial reported from and the versions it runs with (its first
        report, before training), in one write."""
        run_id = self._run_ids.get(spec.trial_key) or self._run_for(spec)[0]
        tags = {NODE: node, **{f"{WORKER}{k}": str(v) for k, v in (versions or {}).items()}}
        _retrying(lambda: self.client.log_batch(run_id, tags=_run_tags(tags)), "tag")
        if self._view is not None and (record := self._view.get(spec.trial_key)) is not None:
            record.tags.update(tags)

    def log_epoch(self, spec: TrialSpec, epoch: int, loss: float, epochs: int) -> None:
        """One point of the live loss curve (a step already logged is not logged again)."""
        run_id = self._run_ids.get(spec.trial_key) or self._run_for(spec)[0]
        history = _retrying(lambda: self.client.get_metric_history(run_id, "train/loss"), "read")
        if any(m.step == epoch for m in history):
            return
        now = int(time.time() * 1000)
        metrics = [Metric("train/loss", float(loss), now, epoch)]
        tags = [RunTag(EPOCH, f"{epoch + 1}/{epochs}")]
        _retrying(lambda: self.client.log_batch(run_id, metrics=metrics, tags=tags), "epoch")

    def log_result(self, spec: TrialSpec, result: TrialResult) -> str | None:
        """Record a finished trial; returns its run id, or None if it was already recorded."""
        run_id, done = self._run_for(spec)
        if done:
            return None
        run = _retrying(lambda: self.client.get_run(run_id), "get run")
        have_metrics = set(run.data.metrics)
        have_steps = {
            m.step
            for m in _retrying(lambda: self.client.get_metric_history(run_id, "train/loss"), "read")
        }
        at = int(result.time.get("ended_unix", time.time()) * 1000)
        final = {**result.metrics, **{f"time/{k}": v for k, v in result.time.items()}}
        final["train/resumed_from_epoch"] = float(result.resumed_from_epoch)
        metrics = [Metric(k, float(v), at, 0) for k, v in final.items() if k not in have_metrics]
        metrics += [
            Metric("train/loss", float(v), at, i)
            for i, v in enumerate(result.train_loss)
            if i not in have_steps
        ]
        params = [Param(k, v) for k, v in trial_params(spec).items() if k not in run.data.params]
        tags = {**trial_tags(spec), **self._placement(result.placement), **self.run_tags}
        self._log_batches(run_id, "log batch", metrics, params, _run_tags(tags))
        self._log_artifacts(run_id, result.artifact_bytes())
        _retrying(lambda: self.client.set_tag(run_id, ERROR, ""), "tag")
        end_ms = int(result.time.get("ended_unix", time.time()) * 1000)
        _retrying(
            lambda: self.client.set_terminated(run_id, "FINISHED", end_time=end_ms), "finish run"
        )
        self._note(spec, run_id, "FINISHED", {**tags, ERROR: ""})
        return run_id

    def _log_batches(
        self,
        run_id: str,
        what: str,
        metrics: list[Metric] | None = None,
        params: list[Param] | None = None,
        tags: list[RunTag] | None = None,
    ) -> None:
        """Log in batches MLflow accepts: 100 params, 100 tags, 1000 entries in all."""
        metrics, params, tags = list(metrics or ()), list(params or ()), list(tags or ())
        while True:
            m, p, t = metrics[:800], params[:100], tags[:100]
            metrics, params, tags = metrics[800:], params[100:], tags[100:]
            _retrying(
                lambda m=m, p=p, t=t: self.client.log_batch(run_id, metrics=m, params=p, tags=t),
                what,
            )
            if not (metrics or params or tags):
                return

    def _log_artifacts(self, run_id: str, artifacts: dict[str, bytes], under: str | None = None):
        if not artifacts:
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in artifacts.items():
                path = Path(tmp) / Path(name).name
                path.write_bytes(data)
                _retrying(
                    lambda p=path: self.client.log_artifact(run_id, str(p), artifact_path=under),
                    "artifact",
                )

    def log_failure(self, spec: TrialSpec, message: str, traceback_text: str = "") -> str | None:
        """Record a trial that failed for good (one line as a tag, the whole traceback as an
        artifact); a later successful attempt reuses the run."""
        run_id, done = self._run_for(spec)
        if done:
            return None
        _retrying(lambda: self.client.set_tag(run_id, ERROR, message[:5000]), "tag")
        if traceback_text:
            self._log_artifacts(run_id, {ERROR_FILE: traceback_text.encode()})
        _retrying(lambda: self.client.set_terminated(run_id, "FAILED"), "fail run")
        self._note(spec, run_id, "FAILED", {ERROR: message[:5000]})
        return run_id
