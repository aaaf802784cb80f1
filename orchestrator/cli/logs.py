"""``mtsweep logs TRIAL``: a failed trial's full traceback, and where its worker logs are."""

from __future__ import annotations

from mtsweep.shared_storage import SharedStorage
from orchestrator.cli.common import CliError, run_of, sweep_args


def add_parser(sub) -> None:
    p = sub.add_parser(
        "logs",
        help="a trial's error: its full traceback and where its worker's log is",
        epilog="example:\n  mtsweep logs 3f2a --out runs/taskonomy-pairs-smoke",
    )
    p.add_argument("trial", help="a trial key or a unique prefix of one (see 'mtsweep status')")
    sweep_args(p)
    p.set_defaults(handle=handle)


def handle(args) -> int:
    from orchestrator.sweep.reading import open_tracker

    plan = run_of(args)
    matches = [s for s in plan.specs if s.trial_key.startswith(args.trial)]
    if len(matches) != 1:
        raise CliError(
            f"{args.trial!r} matches {len(matches)} trials of {plan.sweep_name}/{plan.preset}; "
            "give more of its key (see 'mtsweep status' or 'mtsweep show')"
        )
    spec = matches[0]
    tracker = open_tracker(plan)
    run = tracker.snapshot().get(spec.trial_key)
    if run is None:
        print(f"{spec.trial_key} {spec.label}: has not run yet")
        return 0
    print(f"{spec.trial_key} {spec.label}: {run.status} (MLflow run {run.run_id})")
    if run.error:
        print(f"error: {run.error}")
    traceback_text = tracker.traceback_of(run)
    if traceback_text:
        print(traceback_text.rstrip())
    for trial_dir in tune_trial_dirs(plan.storage, spec.trial_key):
        print(f"Tune trial directory: {trial_dir}")
    print(
        "worker logs: Ray's session logs on the node that ran it "
        f"(node {run.node}): "
        "/tmp/ray/session_latest/logs/worker-*.err"
    )
    return 0


def tune_trial_dirs(storage: SharedStorage, trial_key: str) -> list[str]:
    """Where Tune kept the trial's files, in every sweep invocation: ``<storage>/tune/
    <invocation>/<trial_key>…``, as paths or bucket URIs."""
    dirs = set()
    for key in storage.keys("tune"):
        parts = key.split("/")
        if len(parts) > 3 and parts[2].startswith(trial_key):
            dirs.add("/".join(parts[:3]))
    return [storage.uri(d) for d in sorted(dirs)]
