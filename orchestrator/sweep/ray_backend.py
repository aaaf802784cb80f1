"""Running a sweep's pending trials on Ray Tune, with the driver recording every result.

Resume does not depend on Ray's experiment state: each invocation asks MLflow (and the
results kept beside the checkpoints) what is finished, schedules only the rest, and every
trial continues from its model's last checkpoint in shared storage (a directory every node
mounts or a bucket: ``mtsweep.shared_storage``). So a sweep survives a
killed driver, a lost node or a wiped Ray session alike. Tune's own checkpoints are not
used: a model's checkpoints are keyed by its model_key, so sweeps that share a model
train it once.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mtsweep.errors import MtsweepError
from mtsweep.shared_storage import SharedStorage
from orchestrator.sweep.plan import Resources
from orchestrator.sweep.progress import Progress, ProgressReport
from orchestrator.sweep.trial_report import (
    FAILED_LINE,
    FAILED_TRACE,
    NODE_REPORT,
    VERSIONS_REPORT,
    error_line,
)
from sweeps.spec import TrialSpec

if TYPE_CHECKING:
    from orchestrator.sweep.outbox import Outbox
    from orchestrator.sweep.tracking import Tracker

log = logging.getLogger(__name__)

# Runs in the worker before a trial, with its spec and storage: how failure drills (tests)
# make a trial fail on purpose. None in production.
BeforeTrial = Callable[[TrialSpec, SharedStorage], None]

# Ray and Tune settings for a sweep's driver, applied when Ray starts (not at import).
RAY_DEFAULTS = {
    # Ray binds 127.0.0.1 instead of the machine's external address with this set (seen
    # with Ray 2.60): a laptop run has nothing to serve beyond loopback.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_DEDUP_LOGS": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    # Ctrl-C (SIGINT) is the driver's to handle (lifecycle.run_sweep): Tune's own handler
    # would end the run quietly and tell the user to resume with Tuner.restore, which a
    # sweep never needs (the same command resumes it).
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
    # A failed trial is told once, in one line, by the driver's recorder (its traceback goes
    # to MLflow, for 'mtsweep logs'); Tune would print the whole traceback of every attempt.
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",
}


class _NotTheFailedTrials(logging.Filter):
    """Drops Tune's closing "Trials did not complete: [...]" line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Trials did not complete")


def apply_ray_defaults() -> None:
    """Put ``RAY_DEFAULTS`` into the environment where the user has not set them.

    Ray reads some of them (the loopback binding) when it is first imported, so this runs
    before anything imports Ray: first thing in a sweep run, and in the test session.
    """
    for name, value in RAY_DEFAULTS.items():
        os.environ.setdefault(name, value)


def start_ray(address: str | None, num_cpus: int | None = None) -> None:
    """Join a cluster at ``address`` or start a fresh local instance on loopback.

    Workers' output stays in Ray's session logs (``/tmp/ray/session_latest/logs``): the
    driver reports each trial's outcome and error itself, and forwarding would also print
    the workers' shutdown noise at the end of every sweep.
    """
    apply_ray_defaults()
    import ray

    if ray.is_initialized():
        return
    common = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        ray.init(address=address, **common)
    else:
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, **common)


def stop_ray() -> None:
    """End the driver's Ray session now (its trials' workers with it), quietly."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


def tune_trainable(
    config: dict[str, Any],
    specs: dict[str, dict[str, Any]],
    before_trial: BeforeTrial | None = None,
) -> None:
    """What a Ray worker runs for one trial: train+evaluate, keep the result, report it.

    Each epoch is reported to Tune as an intermediate result, so the driver can show and
    record the trial live. An error a retry cannot mend (bad data, a bad setting: any
    ``MtsweepError``) is reported as the trial's outcome instead of raised, so Tune does
    not run the trial again; other errors (a lost node, a full disk) are raised and retried.
    """
    import ray
    from ray import tune

    from orchestrator.trial.result import write_kept_result
    from orchestrator.trial.run import run_trial
    from orchestrator.trial.versions import worker_versions

    spec = TrialSpec.from_dict(specs[config["trial_key"]])
    storage = SharedStorage(config["storage"])  # each worker opens it with its credentials
    # The driver learns the node from here (Tune's trial object often lacks it at start), and
    # the versions the node runs with: recorded before training, so a failed trial has them.
    versions = worker_versions(gpu=bool(ray.get_gpu_ids()))
    tune.report(
        {NODE_REPORT: ray.util.get_node_ip_address(), VERSIONS_REPORT: json.dumps(versions)}
    )
    epochs = spec.config.train.epochs

    def on_epoch(epoch: int, loss: float) -> None:
        tune.report({"epoch": epoch, "epochs": epochs, "train_loss": loss})

    # GPU hygiene: a trial Ray gave no GPU must not see one (see pick_device).
    gpus = float(config.get("gpus", 0.0)) if ray.get_gpu_ids() else 0.0
    if gpus == 0.0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    # The trial's CPU budget: one process computes, the rest decode data in loader workers.
    cpus = max(1, int(config["cpus"]))
    workers = cpus - 1
    try:
        if before_trial is not None:
            before_trial(spec, storage)
        result = run_trial(
            spec,
            storage,
            on_epoch=on_epoch,
            threads=max(1, cpus - workers),
            gpus=gpus,
            loader_workers=workers,
        )
    except MtsweepError as e:
        tune.report({FAILED_LINE: error_line(e), FAILED_TRACE: traceback.format_exc()})
        return
    result.placement["ray_node"] = ray.get_runtime_context().get_node_id()
    result.placement["checkpoint_uri"] = storage.url(f"checkpoints/{spec.model_key}")
    write_kept_result(storage, result)
    tune.report({"result_json": result.to_json(), "done_trial": 1})


def run_pending(
    specs: list[TrialSpec],
    tracker: Tracker,
    storage: SharedStorage,
    resources: Resources,
    total: int,
    already_done: int,
    progress_every: float = 10.0,
    on_progress: Callable[[ProgressReport], None] | None = None,
    before_trial: BeforeTrial | None = None,
    outbox: Outbox | None = None,
) -> None:
    """Run the given trials on the connected Ray cluster and record each one.

    While MLflow is unreachable, finished results wait in ``outbox`` (see recorder).
    """
    from ray import tune

    from orchestrator.sweep.recorder import MlflowRecorder

    if not specs:
        return
    by_key = {s.trial_key: s for s in specs}
    progress = Progress(total, already_done, every=progress_every, listener=on_progress)
    trainable = tune.with_parameters(
        tune_trainable, specs={k: s.to_dict() for k, s in by_key.items()}, before_trial=before_trial
    )
    trainable = tune.with_resources(
        trainable, {"cpu": resources.cpus_per_trial, "gpu": resources.gpus_per_trial}
    )
    recorder = MlflowRecorder(tracker, by_key, progress, outbox=outbox)
    tuner = tune.Tuner(
        trainable,
        param_space={
            "trial_key": tune.grid_search(sorted(by_key)),
            "storage": storage.location,
            "cpus": resources.cpus_per_trial,
            "gpus": resources.gpus_per_trial,
        },
        tune_config=tune.TuneConfig(
            reuse_actors=True,
            trial_dirname_creator=lambda t: t.config["trial_key"],
            trial_name_creator=lambda t: by_key[t.config["trial_key"]].label.replace("/", "_"),
        ),
        run_config=tune.RunConfig(
            name=f"tune-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=storage.uri("tune"),  # a path, or a bucket URI Tune opens itself
            failure_config=tune.FailureConfig(max_failures=resources.max_failures),
            callbacks=[recorder],
            verbose=0,
            log_to_file=False,
        ),
    )
    # Tune's result grid looks for per-trial files this driver does not ask it to write.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    # Failed trials are listed by the recorder, one line each, as they fail.
    tune_log = logging.getLogger("ray.tune.tune")
    if not any(isinstance(f, _NotTheFailedTrials) for f in tune_log.filters):
        tune_log.addFilter(_NotTheFailedTrials())
    tuner.fit()
    progress.update(progress.states, force=True)
    recorder.flush()
