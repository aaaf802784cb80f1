"""MLflow, written only by the driver: one run per trial, identified by its trial_key.

Logging is idempotent: a FINISHED run is never logged again; a run left RUNNING or FAILED
by an earlier attempt is reused rather than duplicated; and what a run already holds (final
metrics, steps of the loss history, params) is read before anything is written, so a
result recorded twice — after a driver died half-way through recording it — leaves one copy.
"""

from __future__ import annotations

import json
import logging
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestrator.reductions.table import TRIALS_COLUMNS
from orchestrator.sweep.store import (
    TrackingError,
    bound_http_retries,
    check_tracking_uri,
    create_sqlite_store,
    local_artifact_location,
    redact,
    store_exists,
)
from orchestrator.sweep.trial_runs import NoResultsError, experiment_name, live_runs_by_key
from orchestrator.trial.result import TrialResult
from sweeps.spec import TrialSpec

log = logging.getLogger(__name__)

TAG = "mtsweep."
ERROR_FILE = "error.txt"
SUPERSEDED = f"{TAG}superseded"  # set on a trial's old run when --rerun replaces it
PARENT = "mlflow.parentRunId"  # nests trial runs under the sweep's run in the UI  # a failed trial's full traceback, as a run artifact
T = TypeVar("T")


VERSION_TAG = f"{TAG}version"  # the mtsweep package version that recorded a run
GIT_COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's own tag: the UI links it
DATA_TAG = f"{TAG}data_fingerprint"  # data_root=fingerprint of each real data root


def code_version() -> dict[str, str]:
    """The package version, and the git commit when mtsweep runs from a checkout.

    Recorded on every run: a result is only as good as the code that made it, and a resume
    under another version says so (``--rerun`` acts on it).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        tags = {VERSION_TAG: version("mtsweep")}
    except PackageNotFoundError:
        tags = {VERSION_TAG: "unknown"}
    repo = Path(__file__).resolve().parents[2]
    if (repo / ".git").exists():
        try:
            done = subprocess.run(
                ["git", "-C", str(repo), "rev-parse", "HEAD"],
                capture_output=True,
                text=True,
                timeout=10,
            )
        except (OSError, subprocess.SubprocessError):
            return tags
        if done.returncode == 0 and done.stdout.strip():
            tags[GIT_COMMIT_TAG] = done.stdout.strip()
    return tags


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


def _params(spec: TrialSpec) -> dict[str, str]:
    params = {
        "dataset": spec.dataset,
        "arch": spec.arch,
        "train_tasks": "+".join(spec.train_tasks),
        "main_tasks": "+".join(spec.main_tasks),
        "evals": ",".join(spec.evals),
        "attacked": "+".join(spec.attacked),
        "seed": str(spec.seed),
        "model_key": spec.model_key,
    }
    params.update({f"weight.{k}": str(v) for k, v in spec.weights.items()})
    for block in ("data", "model", "train", "evaluation", "output_dim"):
        params.update({f"{block}.{k}": str(v) for k, v in getattr(spec, block).items()})
    if spec.adversarial:
        params.update({f"adversarial.{k}": str(v) for k, v in spec.adversarial.items()})
    return {k: v[:5000] for k, v in params.items()}


def run_name(spec: TrialSpec) -> str:
    """The run's name in the UI: the model's label, with λ_a where the model has auxiliaries."""
    aux = [spec.weights[t] for t in spec.aux_tasks]
    lam = f" λ={','.join(f'{w:g}' for w in aux)}" if aux else ""
    return f"{spec.label}{lam}"


def _tags(spec: TrialSpec) -> dict[str, str]:
    return {
        f"{TAG}sweep": spec.sweep,
        f"{TAG}preset": spec.preset,
        f"{TAG}trial_key": spec.trial_key,
        f"{TAG}model_key": spec.model_key,
        f"{TAG}arch": spec.arch,
        f"{TAG}main_task": "+".join(spec.main_tasks),
        f"{TAG}aux_tasks": "+".join(spec.aux_tasks),
        f"{TAG}weights": json.dumps(spec.weights, sort_keys=True),
        f"{TAG}seed": str(spec.seed),
        "mlflow.runName": run_name(spec),
    }


class Tracker:
    """The driver's handle on one sweep's MLflow experiment.

    ``create=False`` (status, export, reduce) opens only what is there: no store file and no
    experiment is created, and a missing one is a NoResultsError.
    """

    def __init__(self, tracking_uri: str, sweep: str, preset: str, create: bool = True):
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
        self._run_ids: dict[str, str] = {}
        self.parent_run_id: str | None = None  # the sweep's own run, when one is open
        # Tags every trial run of this driver carries: code version, data fingerprint.
        self.run_tags: dict[str, str] = {}

    # ------------------------------------------------------------ reading
    def runs(self) -> list[Any]:
        """Every live run of the experiment (all pages)."""
        out, token = [], None
        while True:
            page = _retrying(
                lambda t=token: self.client.search_runs(
                    [self.experiment_id], max_results=1000, page_token=t
                ),
                "search",
            )
            out.extend(page)
            token = page.token
            if not token:
                return out

    def runs_by_key(self) -> dict[str, Any]:
        """trial_key → run (a FINISHED run wins over an unfinished one of the same key)."""
        return live_runs_by_key(self.runs())

    def recorded_under(self, keys: set[str], tag: str) -> dict[str, int]:
        """How many FINISHED runs of ``keys`` carry each value of ``tag`` ('' when unset)."""
        counts: dict[str, int] = {}
        for key, run in self.runs_by_key().items():
            if key in keys and run.info.status == "FINISHED":
                value = run.data.tags.get(tag, "")
                counts[value] = counts.get(value, 0) + 1
        return counts

    def finished_keys(self) -> set[str]:
        return {k for k, r in self.runs_by_key().items() if r.info.status == "FINISHED"}

    # ------------------------------------------------------------ writing
    def _runs_of(self, spec: TrialSpec) -> list[Any]:
        """The trial's live runs (not superseded by --rerun), found by its key."""
        runs = _retrying(
            lambda: self.client.search_runs(
                [self.experiment_id],
                filter_string=f"tags.`{TAG}trial_key` = '{spec.trial_key}'",
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
                tags = _tags(spec)
                if self.parent_run_id:
                    tags[PARENT] = self.parent_run_id
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

    def start_run(self, spec: TrialSpec, placement: dict[str, str]) -> str | None:
        """Mark a trial RUNNING as it starts (the UI shows it live); None if already finished."""
        run_id, done = self._run_for(spec)
        if done:
            return None
        tags = [RunTag(k, v) for k, v in _tags(spec).items()]
        tags += [RunTag(f"{TAG}{k}", str(v)) for k, v in placement.items()]
        tags += [RunTag(k, v) for k, v in self.run_tags.items()]
        tags.append(RunTag(f"{TAG}error", ""))
        _retrying(lambda: self.client.log_batch(run_id, tags=tags), "tags")
        _retrying(lambda: self.client.update_run(run_id, status="RUNNING"), "start run")
        return run_id

    def log_epoch(self, spec: TrialSpec, epoch: int, loss: float, epochs: int) -> None:
        """One point of the live loss curve (a step already logged is not logged again)."""
        run_id = self._run_ids.get(spec.trial_key) or self._run_for(spec)[0]
        history = _retrying(lambda: self.client.get_metric_history(run_id, "train/loss"), "read")
        if any(m.step == epoch for m in history):
            return
        now = int(time.time() * 1000)
        metrics = [Metric("train/loss", float(loss), now, epoch)]
        tags = [RunTag(f"{TAG}epoch", f"{epoch + 1}/{epochs}")]
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
        params = [Param(k, v) for k, v in _params(spec).items() if k not in run.data.params]
        tags = [RunTag(k, v) for k, v in _tags(spec).items()]
        tags += [RunTag(f"{TAG}{k}", str(v)) for k, v in result.placement.items()]
        tags += [RunTag(k, v) for k, v in self.run_tags.items()]
        for i in range(0, max(len(metrics), 1), 900):  # MLflow's batch limit is 1000
            chunk = metrics[i : i + 900]
            first = i == 0
            _retrying(
                lambda c=chunk, f=first: self.client.log_batch(
                    run_id, metrics=c, params=params if f else [], tags=tags if f else []
                ),
                "log batch",
            )
        self._log_artifacts(run_id, result.artifact_bytes())
        _retrying(lambda: self.client.set_tag(run_id, f"{TAG}error", ""), "tag")
        end_ms = int(result.time.get("ended_unix", time.time()) * 1000)
        _retrying(
            lambda: self.client.set_terminated(run_id, "FINISHED", end_time=end_ms), "finish run"
        )
        return run_id

    def _log_artifacts(self, run_id: str, artifacts: dict[str, bytes]) -> None:
        if not artifacts:
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in artifacts.items():
                path = Path(tmp) / Path(name).name
                path.write_bytes(data)
                _retrying(lambda p=path: self.client.log_artifact(run_id, str(p)), "artifact")

    def log_failure(self, spec: TrialSpec, message: str, traceback_text: str = "") -> str | None:
        """Record a trial that failed for good (one line as a tag, the whole traceback as an
        artifact); a later successful attempt reuses the run."""
        run_id, done = self._run_for(spec)
        if done:
            return None
        _retrying(lambda: self.client.set_tag(run_id, f"{TAG}error", message[:5000]), "tag")
        if traceback_text:
            self._log_artifacts(run_id, {ERROR_FILE: traceback_text.encode()})
        _retrying(lambda: self.client.set_terminated(run_id, "FAILED"), "fail run")
        return run_id

    def end_open_runs(self, keys: set[str], status: str = "KILLED") -> list[str]:
        """End the runs of ``keys`` left RUNNING (the driver was interrupted); their keys.

        A resume reuses each such run, so a trial keeps one run however often it stops."""
        ended = []
        for key, run in self.runs_by_key().items():
            if key in keys and run.info.status == "RUNNING":
                _retrying(
                    lambda i=run.info.run_id: self.client.set_terminated(i, status), "end run"
                )
                ended.append(key)
        return ended

    # ------------------------------------------------------------ export
    def trials_table(self) -> pd.DataFrame:
        """DESIGN's trials table: one row per final metric of every FINISHED run."""
        rows = []
        for key, run in sorted(self.runs_by_key().items()):
            if run.info.status != "FINISHED":
                continue
            identity = _identity(key, run)
            for name, value in run.data.metrics.items():
                parts = name.split("/")
                if len(parts) != 3 or parts[0] in ("train", "time"):
                    continue
                rows.append(
                    {
                        **identity,
                        "eval": parts[0],
                        "task": parts[1],
                        "metric": parts[2],
                        "value": float(value),
                    }
                )
        return pd.DataFrame(rows, columns=list(TRIALS_COLUMNS))


def _identity(key: str, run: Any) -> dict[str, Any]:
    """A run's model identity for the trials table (runs of release 0.1.0: from its params)."""
    tags, params = run.data.tags, run.data.params
    weights = tags.get(f"{TAG}weights")
    if weights is None:
        weights = json.dumps(
            {
                k.removeprefix("weight."): float(v)
                for k, v in params.items()
                if k.startswith("weight.")
            },
            sort_keys=True,
        )
    return {
        "sweep": tags.get(f"{TAG}sweep", ""),
        "preset": tags.get(f"{TAG}preset", ""),
        "trial_key": key,
        "model_key": tags.get(f"{TAG}model_key", params.get("model_key", "")),
        "run_id": run.info.run_id,
        "arch": tags.get(f"{TAG}arch", params.get("arch", "")),
        "main_task": tags.get(f"{TAG}main_task", ""),
        "aux_tasks": tags.get(f"{TAG}aux_tasks", ""),
        "weights": weights,
        "seed": int(tags.get(f"{TAG}seed", 0)),
        "start_time": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC"),
        "end_time": pd.Timestamp(run.info.end_time or run.info.start_time, unit="ms", tz="UTC"),
    }
