"""``mtsweep status``: trials by state; exit 0 all finished, 1 any failed, 3 any unfinished."""

from __future__ import annotations

import time

from orchestrator.cli.common import plan_of, states_line, sweep_args

ALL_FINISHED, SOME_FAILED, UNFINISHED = 0, 1, 3


def add_parser(sub) -> None:
    p = sub.add_parser(
        "status",
        help="trials by state (running ones with epoch and node), and the failures",
        epilog="exit status: 0 every trial finished, 1 some failed, 3 some pending or running",
    )
    sweep_args(p)
    p.set_defaults(handle=handle)


def _elapsed(start_ms: int) -> str:
    from orchestrator.sweep.progress import format_duration

    return format_duration(time.time() - start_ms / 1000) if start_ms else "?"


def handle(args) -> int:
    from orchestrator.sweep.lifecycle import in_state, read_snapshot, trial_states
    from orchestrator.sweep.tracking import NoResultsError

    plan = plan_of(args)
    name = f"{plan.sweep.name}/{plan.preset}"
    try:
        snapshot = read_snapshot(plan)  # the one search of the experiment
    except NoResultsError:
        print(f"{name}: nothing has run yet ({len(plan.specs)} trials pending; out: {plan.out})")
        return UNFINISHED
    states = trial_states(plan, snapshot)
    print(f"{name}: " + states_line(states, len(plan.specs)))
    for spec, run in in_state(plan, "RUNNING", snapshot):
        epoch = run.epoch or f"0/{spec.config.train.epochs}"
        print(
            f"  RUNNING {spec.trial_key} {spec.label}: epoch {epoch}, node {run.node}, "
            f"{_elapsed(run.start_ms)} elapsed"
        )
    for spec, run in in_state(plan, "FAILED", snapshot):
        print(f"  FAILED {spec.trial_key} {spec.label}: {run.error}")
    if states.get("FAILED"):
        return SOME_FAILED
    return ALL_FINISHED if states.get("FINISHED", 0) == len(plan.specs) else UNFINISHED
