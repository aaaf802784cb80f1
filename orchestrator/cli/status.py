"""``mtsweep status``: trials by state; exit 0 all finished, 1 any failed, 3 any unfinished."""

from __future__ import annotations

import time

from orchestrator.cli.common import run_of, states_line, sweep_args

ALL_FINISHED, SOME_FAILED, UNFINISHED = 0, 1, 3


def add_parser(sub) -> None:
    p = sub.add_parser(
        "status",
        help="trials by state (running ones with epoch and node), and the failures",
        epilog="exit status: 0 every trial finished, 1 some failed, 3 some pending or running",
    )
    sweep_args(p)
    p.set_defaults(handle=handle)


def _elapsed(start_ms: str) -> str:
    from orchestrator.sweep.progress import format_duration

    start = int(start_ms or 0) / 1000
    return format_duration(time.time() - start) if start else "?"


def handle(args) -> int:
    from orchestrator.sweep.reading import (
        NoResultsError,
        failures,
        running,
        runs_by_key,
        trial_states,
    )

    plan = run_of(args)
    name = f"{plan.sweep_name}/{plan.preset}"
    try:
        runs = runs_by_key(plan)
    except NoResultsError:
        print(f"{name}: nothing has run yet ({len(plan.specs)} trials pending; out: {plan.out})")
        return UNFINISHED
    states = trial_states(plan, runs)
    print(f"{name}: " + states_line(states, len(plan.specs)))
    for spec, tags in running(plan, runs):
        epoch = tags.get("mtsweep.epoch", f"0/{spec.train.get('epochs', 1)}")
        node = tags.get("mtsweep.node") or tags.get("mtsweep.host") or "?"
        print(
            f"  RUNNING {spec.trial_key} {spec.label}: epoch {epoch}, node {node}, "
            f"{_elapsed(tags['start_time_ms'])} elapsed"
        )
    for spec, error, _ in failures(plan, runs):
        print(f"  FAILED {spec.trial_key} {spec.label}: {error}")
    if states.get("FAILED"):
        return SOME_FAILED
    return ALL_FINISHED if states.get("FINISHED", 0) == len(plan.specs) else UNFINISHED
