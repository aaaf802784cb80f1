"""MLflow, written only by the driver: one run per trial, identified by its trial_key.

Logging is idempotent: a trial whose run is already FINISHED is never logged again, and a
run left RUNNING or FAILED by an earlier attempt is reused rather than duplicated, so the
experiment holds exactly one run per trial however often a sweep is resumed.
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sweeps.spec import TrialSpec

log = logging.getLogger(__name__)

TAG = "mtsweep."
T = TypeVar("T")
TRIALS_COLUMNS = ["trial_key", "main_task", "aux_tasks", "seed", "eval", "task", "metric", "value"]


def experiment_name(sweep: str, preset: str) -> str:
    return f"{sweep}/{preset}"


def _retrying(fn: Callable[[], T], what: str, attempts: int = 6, wait: float = 2.0) -> T:
    """Ride out a tracking server that restarts: retry with backoff, then give up loudly."""
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


def _flat_params(spec: TrialSpec) -> dict[str, str]:
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
    for block in ("data", "model", "train", "evaluation"):
        params.update({f"{block}.{k}": str(v) for k, v in getattr(spec, block).items()})
    if spec.adversarial:
        params.update({f"adversarial.{k}": str(v) for k, v in spec.adversarial.items()})
    return {k: v[:5000] for k, v in params.items()}


def _tags(spec: TrialSpec) -> dict[str, str]:
    return {
        f"{TAG}sweep": spec.sweep,
        f"{TAG}preset": spec.preset,
        f"{TAG}trial_key": spec.trial_key,
        f"{TAG}main_task": "+".join(spec.main_tasks),
        f"{TAG}aux_tasks": "+".join(spec.aux_tasks),
        f"{TAG}seed": str(spec.seed),
        "mlflow.runName": spec.label,
    }


class Tracker:
    """The driver's handle on one sweep's MLflow experiment."""

    def __init__(self, tracking_uri: str, sweep: str, preset: str):
        self.uri = tracking_uri
        create_sqlite_store(tracking_uri)
        self.client = MlflowClient(tracking_uri=tracking_uri)
        name = experiment_name(sweep, preset)
        exp = _retrying(lambda: self.client.get_experiment_by_name(name), "lookup")
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
        best: dict[str, Any] = {}
        for run in self.runs():
            key = run.data.tags.get(f"{TAG}trial_key")
            if key is None:
                continue
            if key not in best or run.info.status == "FINISHED":
                best[key] = run
        return best

    def finished_keys(self) -> set[str]:
        return {k for k, r in self.runs_by_key().items() if r.info.status == "FINISHED"}

    # ------------------------------------------------------------ writing
    def _run_for(self, spec: TrialSpec) -> tuple[str, bool]:
        """(run id, already finished) for a trial, creating the run if there is none."""
        run = self.runs_by_key().get(spec.trial_key)
        if run is not None:
            return run.info.run_id, run.info.status == "FINISHED"
        created = _retrying(
            lambda: self.client.create_run(
                self.experiment_id, tags=_tags(spec), run_name=spec.label
            ),
            "create run",
        )
        return created.info.run_id, False

    def log_result(self, spec: TrialSpec, result: dict[str, Any]) -> str | None:
        """Record a finished trial; returns its run id, or None if it was already recorded."""
        run_id, done = self._run_for(spec)
        if done:
            return None
        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, 0) for k, v in result["metrics"].items()]
        metrics += [
            Metric("train/loss", float(v), now, i)
            for i, v in enumerate(result.get("train_loss", []))
        ]
        metrics += [Metric(f"time/{k}", float(v), now, 0) for k, v in result["time"].items()]
        params = [Param(k, v) for k, v in _flat_params(spec).items()]
        tags = [RunTag(k, v) for k, v in _tags(spec).items()]
        tags += [RunTag(f"{TAG}{k}", str(v)) for k, v in result.get("placement", {}).items()]
        metrics.append(
            Metric("train/resumed_from_epoch", float(result.get("resumed_from_epoch", 0)), now, 0)
        )
        existing = _retrying(lambda: self.client.get_run(run_id), "get run").data.params
        params = [p for p in params if p.key not in existing]
        for i in range(0, max(len(metrics), 1), 900):  # MLflow's batch limit is 1000
            chunk = metrics[i : i + 900]
            _retrying(
                lambda c=chunk, first=(i == 0): self.client.log_batch(
                    run_id, metrics=c, params=params if first else [], tags=tags if first else []
                ),
                "log batch",
            )
        self._log_artifacts(run_id, result.get("artifacts", {}))
        _retrying(lambda: self.client.set_tag(run_id, f"{TAG}error", ""), "tag")
        _retrying(lambda: self.client.set_terminated(run_id, "FINISHED"), "finish run")
        return run_id

    def _log_artifacts(self, run_id: str, artifacts: dict[str, str]) -> None:
        if not artifacts:
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, b64 in artifacts.items():
                path = Path(tmp) / name
                path.write_bytes(base64.b64decode(b64))
                _retrying(lambda p=path: self.client.log_artifact(run_id, str(p)), "artifact")

    def log_failure(self, spec: TrialSpec, message: str) -> str | None:
        """Record a trial that failed for good; a later successful attempt reuses the run."""
        run_id, done = self._run_for(spec)
        if done:
            return None
        _retrying(lambda: self.client.set_tag(run_id, f"{TAG}error", message[:5000]), "tag")
        _retrying(lambda: self.client.set_terminated(run_id, "FAILED"), "fail run")
        return run_id

    # ------------------------------------------------------------ export
    def trials_table(self) -> pd.DataFrame:
        """DESIGN's trials table: one row per final metric of every FINISHED run."""
        rows = []
        for key, run in sorted(self.runs_by_key().items()):
            if run.info.status != "FINISHED":
                continue
            tags = run.data.tags
            for name, value in run.data.metrics.items():
                parts = name.split("/")
                if len(parts) != 3 or parts[0] in ("train", "time"):
                    continue
                rows.append(
                    {
                        "trial_key": key,
                        "main_task": tags.get(f"{TAG}main_task", ""),
                        "aux_tasks": tags.get(f"{TAG}aux_tasks", ""),
                        "seed": int(tags.get(f"{TAG}seed", 0)),
                        "eval": parts[0],
                        "task": parts[1],
                        "metric": parts[2],
                        "value": float(value),
                    }
                )
        return pd.DataFrame(rows, columns=TRIALS_COLUMNS)


def states_by_key(tracker: Tracker, keys: Iterable[str]) -> dict[str, str]:
    """MLflow's status for each key, 'PENDING' where it has no run yet."""
    runs = tracker.runs_by_key()
    return {k: (runs[k].info.status if k in runs else "PENDING") for k in keys}


SQLITE = "sqlite:///"


def default_tracking_uri(out_dir: Path) -> str:
    return f"{SQLITE}{(out_dir / 'mlflow.db').resolve()}"


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a SQLite tracking URI; None for a server or another store."""
    if not tracking_uri.startswith(SQLITE):
        return None
    return Path(tracking_uri.removeprefix(SQLITE)).resolve()


def create_sqlite_store(tracking_uri: str) -> None:
    """Create a new SQLite store whole: migrated under a temporary name, then renamed.

    MLflow creates the database file first and its tables after; a reader that opens the
    file in between (``mtsweep status`` during a run's start) would migrate it a second
    time and fail. Renaming a finished database into place leaves no such window.
    """
    db = sqlite_path(tracking_uri)
    if db is None or db.exists():
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    MlflowClient(tracking_uri=f"{SQLITE}{tmp}").search_experiments(max_results=1)
    if not db.exists():
        os.replace(tmp, db)
    else:
        tmp.unlink(missing_ok=True)


def local_artifact_location(tracking_uri: str) -> str | None:
    """Artifacts of a SQLite store go next to its database, not into the caller's cwd.

    MLflow's default for a database store is ``./mlruns`` relative to wherever the
    driver was started; a server (http URI) serves its own artifacts, so it gets None.
    """
    db = sqlite_path(tracking_uri)
    return None if db is None else (db.parent / "mlartifacts").as_uri()


def configure_quiet_mlflow() -> None:
    """MLflow logs alembic migrations and emoji links at INFO; a sweep's output needs neither."""
    for name in ("alembic", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
