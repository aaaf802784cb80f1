"""A rerun on an existing ``--out`` asks for what that directory holds, or says how it differs.

``<out>/sweep.json`` records the request a run made: its tasks, seeds and ``--set``
overrides decide which trials ``status``, ``export`` and the reduction count. A later run
that asks for other trials would silently replace that record (and the results beside it),
so it is refused in one line naming the difference — unless the user says ``--extend``:
the new request's trials are added and the recorded ones stay, with their results.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from orchestrator.sweep.plan import (
    REQUEST_FILE,
    OutDirError,
    Plan,
    Request,
    make_plan,
    read_request,
)


def _shown(values: tuple | None, empty: str) -> str:
    return ",".join(str(v) for v in values) if values else empty


def differences(recorded: Request, asked: Request) -> list[str]:
    """How ``asked`` differs from ``recorded`` in what selects trials: tasks, seeds, --set."""
    out = []
    if recorded.tasks != asked.tasks:
        was, now = _shown(recorded.tasks, "all"), _shown(asked.tasks, "all")
        out.append(f"--tasks {now} (recorded: {was})")
    if recorded.seeds != asked.seeds:
        was, now = _shown(recorded.seeds, "the preset's"), _shown(asked.seeds, "the preset's")
        out.append(f"--seeds {now} (recorded: {was})")
    if recorded.overrides != asked.overrides:
        added = [o for o in asked.overrides if o not in recorded.overrides]
        dropped = [o for o in recorded.overrides if o not in asked.overrides]
        said = [f"--set {o}" for o in added] + [f"without --set {o}" for o in dropped]
        out.append(", ".join(said) or "--set in another order")
    return out


def _recorded(plan: Plan) -> Request | None:
    """The request ``plan.out`` records for the same sweep and preset; None if none."""
    marker = plan.out / REQUEST_FILE
    if not marker.exists():
        return None
    try:
        theirs = json.loads(marker.read_text())
        recorded = read_request(plan.out)
    except (OSError, ValueError, OutDirError):
        return None  # unreadable: claim_out_dir refuses it or --force replaces it
    if (theirs.get("sweep_name"), recorded.preset) != (plan.sweep.name, plan.preset):
        return None  # another sweep's directory is claim_out_dir's to refuse
    return recorded


def _extended(plan: Plan, extends: tuple[Request, ...], flags: dict[str, Any]) -> Plan:
    if plan.request.extends == extends:
        return plan
    request = dataclasses.replace(plan.request, extends=extends)
    return make_plan(request, out=plan.out, **flags)


def guard_request(plan: Plan, extend: bool = False, **flags: Any) -> Plan:
    """The plan to run in ``plan.out``: as asked when the directory is new or holds the same
    request (with the trials it was extended by); with the recorded trials added under
    ``--extend``; else an OutDirError. ``flags`` are make_plan's.
    """
    recorded = _recorded(plan)
    if recorded is None:
        return plan
    changed = differences(recorded, plan.request)
    if not changed:
        return _extended(plan, recorded.extends, flags)
    if not extend:
        raise OutDirError(
            f"{plan.out} holds a run of {plan.sweep.name}/{plan.preset} that asked for other "
            f"trials; this command asks {'; '.join(changed)}: pass --extend to add its trials "
            "beside the recorded ones, or give another --out"
        )
    earlier = (*recorded.extends, dataclasses.replace(recorded, extends=()))
    return _extended(plan, earlier, flags)


def with_recorded_extensions(plan: Plan, **flags: Any) -> Plan:
    """For the reading commands: the same request as ``plan.out`` records counts the trials
    it was extended by too; another request is read as asked."""
    recorded = _recorded(plan)
    if recorded is None or differences(recorded, plan.request):
        return plan
    return _extended(plan, recorded.extends, flags)
