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


def _elapsed(start_ms: int) -> str:
    from orchestrator.sweep.progress import format_duration

    return format_duration(time.time() - start_ms / 1000) if start_ms else "?"


def handle(args) -> int:
    from orchestrator.sweep.reading import sweep_status

    status = sweep_status(run_of(args))
    name = f"{status.sweep}/{status.preset}"
    total = len(status.trials)
    if not status.ran:
        print(f"{name}: nothing has run yet ({total} trials pending; out: {status.out})")
        return UNFINISHED
    states = status.states
    print(f"{name}: " + states_line(states, total))
    for t in status.of("RUNNING"):
        print(
            f"  RUNNING {t.trial_key} {t.label}: epoch {t.epoch}, node {t.node or '?'}, "
            f"{_elapsed(t.started_ms)} elapsed"
        )
    for t in status.of("FAILED"):
        print(f"  FAILED {t.trial_key} {t.label}: {t.error}")
    if status.version_warning:
        print(status.version_warning)
    if states.get("FAILED"):
        return SOME_FAILED
    return ALL_FINISHED if states.get("FINISHED", 0) == total else UNFINISHED
