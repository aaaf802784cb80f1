"""A sweep's life cycle as the CLI and the Python API drive it: run (resuming), state,
failures, export and the sweep's own reduction.

Reading steps open the MLflow store read-only: asking about a sweep that never ran
creates nothing and says so.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.sweep.lease import DriverLease
from orchestrator.sweep.mlflow_schema import DATA_TAG, GIT_COMMIT_TAG, VERSION_TAG
from orchestrator.sweep.mlflow_store import TrackingError, quiet_libraries, redact
from orchestrator.sweep.outbox import Outbox
from orchestrator.sweep.parent_run import (
    describe_sweep,
    record_reduction,
    select_reruns,
    supersede,
)
from orchestrator.sweep.plan import Plan, claim_out_dir
from orchestrator.sweep.preflight import (
    check_cluster_capacity,
    check_from_workers,
    preflight,
    real_data_fingerprints,
)
from orchestrator.sweep.progress import ProgressReport
from orchestrator.sweep.provenance import code_version
from orchestrator.sweep.ray_backend import BeforeTrial
from orchestrator.sweep.reading import export_trials, follow_move, open_tracker
from orchestrator.sweep.snapshot import Snapshot
from orchestrator.sweep.tracking import Tracker
from orchestrator.trial.data import data_uses, ensure_data, packed_uri

log = logging.getLogger("mtsweep")


def run_sweep(
    plan: Plan,
    address: str | None = None,
    force: bool = False,
    num_cpus: int | None = None,
    before_trial: BeforeTrial | None = None,
    rerun: list[str] | None = None,
    on_progress: Callable[[ProgressReport], None] | None = None,
) -> Counter[str]:
    """Run every unfinished trial of the plan; returns the final MLflow states.

    ``rerun`` ('failed', 'all' or trial keys) runs those trials again although they ended:
    their earlier runs stay, marked superseded. ``on_progress`` gets each progress report.
    """
    from orchestrator.sweep.ray_backend import (
        apply_ray_defaults,
        run_pending,
        start_ray,
        stop_ray,
    )

    apply_ray_defaults()  # before the recorder (Tune) imports Ray
    from orchestrator.sweep.recorder import ingest_kept_results

    # Pre-flight, before anything is written: numbers, paths, tracking store, data layout,
    # capacity. Synthetic data is made once here (in the cache), before any worker asks; a
    # packed dataset in a bucket is copied by each node that trains on it, not by the driver.
    preflight(plan, address, num_cpus)
    for use in data_uses(plan.specs):
        if packed_uri(use.data) is None:
            ensure_data(use.dataset, use.data)
    if address:
        start_ray(address, num_cpus=num_cpus)
        check_cluster_capacity(plan.resources)
    run_tags = {**code_version(), **_data_tags(plan)}
    # One driver per sweep: the lease is taken before anything of the run is written.
    with DriverLease(plan.out), _terminate_as_interrupt():
        if address:
            check_from_workers(plan)
        claim_out_dir(plan, force)
        quiet_libraries()
        follow_move(plan)
        tracker = Tracker(plan.tracking_uri, plan.sweep.name, plan.preset, run_tags=run_tags)
        # One search of the experiment; the tracker keeps it current with what it writes.
        snapshot = tracker.snapshot()
        tracker.open_sweep_run(snapshot, plan.sweep.name, plan.preset)
        describe_sweep(tracker, plan)
        outbox = Outbox(plan.out)
        if len(outbox):  # results an earlier run queued while MLflow was down
            outbox.drain(tracker, {s.trial_key: s for s in plan.specs})
        if rerun:
            supersede(tracker, snapshot, select_reruns(plan.specs, snapshot, rerun), plan.storage)
        finished = snapshot.finished_keys() & set(plan.keys)
        finished |= ingest_kept_results(tracker, plan.specs, plan.storage, finished)
        _note_changes(snapshot, finished, run_tags)
        pending = [s for s in plan.specs if s.trial_key not in finished]
        log.info(
            "sweep %s/%s: %d trials, %d already finished, %d to run (out: %s)",
            plan.sweep.name,
            plan.preset,
            len(plan.specs),
            len(finished),
            len(pending),
            plan.out,
        )
        if pending:
            start_ray(address, num_cpus=num_cpus)
            try:
                run_pending(
                    pending,
                    tracker,
                    plan.storage,
                    plan.resources,
                    total=len(plan.specs),
                    already_done=len(finished),
                    before_trial=before_trial,
                    outbox=outbox,
                    on_progress=on_progress,
                )
            except KeyboardInterrupt:
                stop_ray()  # its trials stop; each resumes from its last checkpoint
                _mark_interrupted(tracker, {s.trial_key for s in pending})
                raise
        if len(outbox):
            raise TrackingError(
                f"MLflow at {redact(plan.tracking_uri)} did not record every result; "
                f"{len(outbox)} result(s) wait in {outbox.dir}: run the same command again "
                "when it is back"
            )
        return snapshot.states(plan.keys)


def _mark_interrupted(tracker: Tracker, keys: set[str]) -> None:
    """Mark the trials that were running as interrupted, in one line either way: a tracking
    store that fails now must not turn a clean stop into a traceback (the runs it could not
    mark stay RUNNING, and the same command reuses them)."""
    try:
        ended = tracker.end_open_runs(keys)
    except TrackingError as e:
        log.warning("stopped; %s: the same command resumes them all", e)
        return
    log.warning("stopped: %d running trial(s) marked interrupted", len(ended))


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the driver as Ctrl-C does (KeyboardInterrupt), so both end cleanly:
    open trial runs marked interrupted, the lease released."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _data_tags(plan: Plan) -> dict[str, str]:
    """The fingerprint of each real data root, recorded on every run (synthetic data is a
    pure function of its parameters, which the keys already hold)."""
    prints = real_data_fingerprints(plan)
    return {DATA_TAG: json.dumps(prints, sort_keys=True)} if prints else {}


def _note_changes(snapshot: Snapshot, finished: set[str], run_tags: dict[str, str]) -> None:
    """Say when finished trials were recorded under other code or other data.

    They are kept (a version bump rarely changes results): ``--rerun all`` acts on it.
    """
    for tag, what in (
        (GIT_COMMIT_TAG, "code commit"),
        (VERSION_TAG, "mtsweep version"),
        (DATA_TAG, "data"),
    ):
        now = run_tags.get(tag)
        if now is None:
            continue
        other = {v: n for v, n in snapshot.recorded_under(finished, tag).items() if v != now}
        if other:
            log.warning(
                "%d finished trial(s) were recorded under another %s (%s); this run has %s. "
                "They are kept; pass --rerun all to run them again",
                sum(other.values()),
                what,
                ", ".join(v or "unrecorded" for v in sorted(other)),
                now,
            )


def reduce_run(plan: Plan, fmt: str = "png") -> tuple[list[Path], str]:
    """The sweep's own reduction into ``<out>/results/``, after a run; the files and the
    summary numbers also go to the sweep's MLflow run."""
    from orchestrator.reductions import reduce_to

    results = plan.out / "results"
    reduction = plan.sweep.reduction
    tracker = open_tracker(plan)
    snapshot = tracker.snapshot()
    files, summary = reduce_to(
        export_trials(plan, snapshot),
        reduction,
        plan.sweep.dataset,
        results / f"{reduction}.parquet",
        results,
        fmt=fmt,
    )
    tracker.open_sweep_run(snapshot, plan.sweep.name, plan.preset)
    record_reduction(tracker, reduction, files, summary)
    return files, summary
