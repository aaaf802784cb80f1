"""Running a sweep's pending trials on Ray Tune, with the driver recording every result.

Resume does not depend on Ray's experiment state: each invocation asks MLflow (and the
results kept beside the checkpoints) what is finished, schedules only the rest, and every
trial continues from its model's last checkpoint in shared storage. So a sweep survives a
killed driver, a lost node or a wiped Ray session alike.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.progress import Progress
from orchestrator.tracking import Tracker
from orchestrator.trial import read_result, run_trial, write_result
from sweeps.spec import TrialSpec

log = logging.getLogger(__name__)

# Ray binds 127.0.0.1 instead of the machine's external address with this set (seen with
# Ray 2.60); a laptop run has nothing to serve beyond loopback.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("RAY_DEDUP_LOGS", "0")


class InjectedFault(RuntimeError):
    """Raised by a trial whose spec asks for a fault (extra.fail_attempts): failure drills."""


@dataclass
class Resources:
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 1


def start_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Join a cluster at ``address`` or start a fresh local instance on loopback.

    Workers' output stays in Ray's session logs (``/tmp/ray/session_latest/logs``): the
    driver reports each trial's outcome and error itself, and forwarding would also print
    the workers' shutdown noise at the end of every sweep.
    """
    import ray

    if ray.is_initialized():
        return
    common = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **common)


def _maybe_inject_fault(spec: TrialSpec, storage: Path) -> None:
    wanted = int(spec.extra.get("fail_attempts", 0))
    if not wanted:
        return
    marker = storage / "faults" / spec.trial_key
    marker.parent.mkdir(parents=True, exist_ok=True)
    seen = int(marker.read_text()) if marker.exists() else 0
    if seen < wanted:
        marker.write_text(str(seen + 1))
        raise InjectedFault(f"injected fault {seen + 1} of {wanted} (extra.fail_attempts)")


def tune_trainable(config: dict[str, Any], specs: dict[str, dict[str, Any]]) -> None:
    """What a Ray worker runs for one trial: train+evaluate, keep the result, report it."""
    import ray
    from ray import tune

    spec = TrialSpec.from_dict(specs[config["trial_key"]])
    storage = Path(config["storage"])
    _maybe_inject_fault(spec, storage)
    result = run_trial(spec, storage, threads=max(1, int(config["cpus"])))
    result["placement"]["ray_node"] = ray.get_runtime_context().get_node_id()
    write_result(storage, spec.trial_key, result)
    tune.report({"result_json": json.dumps(result), "done_trial": 1})


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


def error_line(trial: Any) -> str:
    """The trial's exception as one line: its type and message, without Ray's wrapping."""
    err = _trial_exception(trial)
    cause = getattr(err, "cause", None) or err
    if cause is not None:
        lines = str(cause).strip().splitlines()
        return f"{type(cause).__name__}: {lines[-1] if lines else ''}"[:2000]
    return "trial failed (see Ray's error file for the trace)"


def _make_callback(tracker: Tracker, specs: dict[str, TrialSpec], progress: Progress):
    from ray import tune

    class DriverCallback(tune.Callback):
        """Runs in the driver: the only writer to MLflow, and the progress line."""

        def __init__(self) -> None:
            self.states: dict[str, str] = {}

        def _counts(self, trials) -> Counter[str]:
            c: Counter[str] = Counter()
            for t in trials:
                key = t.config["trial_key"]
                if self.states.get(key) in ("done", "failed"):
                    c[self.states[key]] += 1
                elif t.status == "RUNNING":
                    c["running"] += 1
            return c

        def on_step_end(self, iteration, trials, **info):
            progress.update(self._counts(trials))

        def on_trial_complete(self, iteration, trials, trial, **info):
            key = trial.config["trial_key"]
            raw = (trial.last_result or {}).get("result_json")
            if raw is None:
                return
            try:
                tracker.log_result(specs[key], json.loads(raw))
                self.states[key] = "done"
            except Exception:  # noqa: BLE001 - the result is kept on disk for the next run
                log.error(
                    "could not record trial %s in MLflow (kept in storage; the next "
                    "'mtsweep run' records it):\n%s",
                    key,
                    traceback.format_exc(limit=2),
                )
                self.states[key] = "done"
            progress.update(self._counts(trials))

        def on_trial_error(self, iteration, trials, trial, **info):
            key = trial.config["trial_key"]
            message = error_line(trial)
            self.states[key] = "failed"
            log.warning("trial %s (%s) failed: %s", key, specs[key].label, message)
            try:
                tracker.log_failure(specs[key], message)
            except Exception:  # noqa: BLE001
                log.error("could not record the failure of %s in MLflow", key)
            progress.update(self._counts(trials), force=True)

    return DriverCallback()


def ingest_kept_results(
    tracker: Tracker, specs: list[TrialSpec], storage: Path, finished: set[str]
) -> set[str]:
    """Record results that trials finished but an earlier driver never logged."""
    recorded = set()
    for spec in specs:
        if spec.trial_key in finished:
            continue
        result = read_result(storage, spec.trial_key)
        if result is not None:
            tracker.log_result(spec, result)
            recorded.add(spec.trial_key)
    if recorded:
        log.info("recorded %d finished trial(s) kept from an earlier run", len(recorded))
    return recorded


def run_pending(
    specs: list[TrialSpec],
    tracker: Tracker,
    storage: Path,
    resources: Resources,
    total: int,
    already_done: int,
    progress_every: float = 10.0,
) -> None:
    """Run the given trials on the connected Ray cluster and record each one."""
    from ray import tune

    if not specs:
        return
    by_key = {s.trial_key: s for s in specs}
    progress = Progress(total=total, already_done=already_done, every=progress_every)
    trainable = tune.with_parameters(
        tune_trainable, specs={k: s.to_dict() for k, s in by_key.items()}
    )
    trainable = tune.with_resources(
        trainable, {"cpu": resources.cpus_per_trial, "gpu": resources.gpus_per_trial}
    )
    tuner = tune.Tuner(
        trainable,
        param_space={
            "trial_key": tune.grid_search(sorted(by_key)),
            "storage": str(storage.resolve()),
            "cpus": resources.cpus_per_trial,
        },
        tune_config=tune.TuneConfig(
            reuse_actors=True,
            trial_dirname_creator=lambda t: t.config["trial_key"],
            trial_name_creator=lambda t: by_key[t.config["trial_key"]].label.replace("/", "_"),
        ),
        run_config=tune.RunConfig(
            name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=str((storage / "tune").resolve()),
            failure_config=tune.FailureConfig(max_failures=resources.max_failures),
            callbacks=[_make_callback(tracker, by_key, progress)],
            verbose=0,
            log_to_file=False,
        ),
    )
    # Tune's result grid looks for per-trial files this driver does not ask it to write.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    tuner.fit()
    progress.update(progress.states, force=True)
