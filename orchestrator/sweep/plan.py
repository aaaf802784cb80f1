"""A sweep under a preset, narrowed and overridden, with where it keeps things.

``make_plan`` turns a request (sweep, preset, --set, --tasks, --seeds, --data-root, flags)
into the list of TrialSpecs and the places the run uses: the out directory, the MLflow
store, the checkpoint storage. ``claim_out_dir`` writes the request into
``<out>/sweep.json``, so follow-up commands given ``--out`` need nothing repeated, and two
sweeps never mix their results in one directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.reductions import get_reduction
from orchestrator.sweep.mlflow_store import default_tracking_uri
from orchestrator.sweep.ray_backend import Resources
from sweeps.definition import Sweep, SweepError, load_sweep
from sweeps.spec import TrialSpec
from tasks.atomic import replace_atomically
from tasks.errors import MtsweepError

REQUEST_FILE = "sweep.json"
NO_REDUCTION = "none"  # a sweep whose trials are only recorded


class OutDirError(MtsweepError):
    """The output directory belongs to another sweep (or cannot be used)."""


@dataclass(frozen=True)
class Request:
    """What a user asked for; enough to plan the same sweep again from ``sweep.json``."""

    sweep: str  # a built-in name or a YAML path
    preset: str = "smoke"
    overrides: tuple[str, ...] = ()
    tasks: tuple[str, ...] | None = None
    seeds: tuple[int, ...] | None = None
    data_root: str | None = None
    tracking_uri: str | None = None
    storage: str | None = None
    # Earlier requests of the same --out whose trials this one keeps (``--extend``).
    extends: tuple[Request, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out = {
            "sweep": self.sweep,
            "preset": self.preset,
            "overrides": list(self.overrides),
            "tasks": None if self.tasks is None else list(self.tasks),
            "seeds": None if self.seeds is None else list(self.seeds),
            "data_root": self.data_root,
            "tracking_uri": self.tracking_uri,
            "storage": self.storage,
        }
        if self.extends:
            out["extends"] = [r.to_dict() for r in self.extends]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Request:
        return cls(
            sweep=str(raw["sweep"]),
            preset=str(raw.get("preset", "smoke")),
            overrides=tuple(raw.get("overrides") or ()),
            tasks=None if raw.get("tasks") is None else tuple(raw["tasks"]),
            seeds=None if raw.get("seeds") is None else tuple(int(s) for s in raw["seeds"]),
            data_root=raw.get("data_root"),
            tracking_uri=raw.get("tracking_uri"),
            storage=raw.get("storage"),
            extends=tuple(cls.from_dict(r) for r in raw.get("extends") or ()),
        )


@dataclass
class Plan:
    """The trials of a request and where the run keeps its store, storage and results."""

    sweep: Sweep
    request: Request
    out: Path
    specs: list[TrialSpec]
    tracking_uri: str
    storage: Path
    resources: Resources
    notes: list[str] = field(default_factory=list)

    @property
    def preset(self) -> str:
        return self.request.preset

    @property
    def keys(self) -> list[str]:
        return [s.trial_key for s in self.specs]


def default_out(sweep: str, preset: str) -> Path:
    return Path("runs") / f"{sweep}-{preset}"


def read_request(out: Path) -> Request:
    """The request a run recorded in ``out``; OutDirError if it holds none."""
    path = Path(out) / REQUEST_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise OutDirError(
            f"{out} holds no sweep (no {REQUEST_FILE}); give the SWEEP and --preset, "
            "or the --out of an earlier 'mtsweep run'"
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise OutDirError(f"{path} cannot be read ({e}); give the SWEEP and --preset") from None
    if not isinstance(raw, dict) or "sweep" not in raw:
        raise OutDirError(f"{path} is not a sweep request; give the SWEEP and --preset")
    return Request.from_dict(raw)


def make_plan(
    request: Request,
    out: Path | None = None,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    max_failures: int = 1,
    require_data: bool = True,
) -> Plan:
    """Expand the request into trials; flags override the preset's resources."""
    sweep = load_sweep(request.sweep)
    if sweep.reduction != NO_REDUCTION:
        get_reduction(sweep.reduction)  # an unknown name is refused before anything runs
    overrides = list(request.overrides)
    specs = _expand(sweep, request, request.data_root, require_data)
    if len({s.trial_key for s in specs}) != len(specs):
        raise SweepError(
            f"sweep {sweep.name!r} expands to duplicate trials; make its models distinct"
        )
    for earlier in request.extends:  # kept by --extend: their trials stay in the sweep
        keys = {s.trial_key for s in specs}
        more = _expand(sweep, earlier, request.data_root, require_data=False)
        specs += [s for s in more if s.trial_key not in keys]
    preset = sweep.resources(request.preset, overrides)
    resources = Resources(
        cpus_per_trial=preset.cpus_per_trial if cpus_per_trial is None else cpus_per_trial,
        gpus_per_trial=preset.gpus_per_trial if gpus_per_trial is None else gpus_per_trial,
        max_failures=max_failures,
    )
    out = (out or default_out(sweep.name, request.preset)).resolve()
    return Plan(
        sweep=sweep,
        request=request,
        out=out,
        specs=specs,
        tracking_uri=request.tracking_uri or default_tracking_uri(out),
        storage=Path(request.storage).resolve() if request.storage else (out / "ray").resolve(),
        resources=resources,
    )


def _expand(sweep: Sweep, request: Request, data_root: str | None, require_data: bool):
    return sweep.expand(
        request.preset,
        tasks=list(request.tasks) if request.tasks else None,
        seeds=list(request.seeds) if request.seeds is not None else None,
        data_root=data_root,
        overrides=list(request.overrides),
        require_data=require_data,
    )


def claim_out_dir(plan: Plan, force: bool = False) -> None:
    """Refuse to mix two sweeps' results in one directory unless told to; record the request."""
    marker = plan.out / REQUEST_FILE
    if marker.exists():
        try:
            theirs = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            theirs = {}
        same = (theirs.get("sweep_name"), theirs.get("preset")) == (plan.sweep.name, plan.preset)
        legacy = (theirs.get("sweep"), theirs.get("preset")) == (plan.sweep.name, plan.preset)
        if not (same or legacy) and not force:
            raise OutDirError(
                f"{plan.out} holds results of sweep "
                f"{theirs.get('sweep_name', theirs.get('sweep'))!r} preset "
                f"{theirs.get('preset')!r}; choose another --out or pass --force"
            )
    record = {**plan.request.to_dict(), "sweep_name": plan.sweep.name}
    record["tracking_uri"] = plan.tracking_uri
    record["storage"] = str(plan.storage)
    replace_atomically(marker, lambda tmp: tmp.write_text(json.dumps(record, indent=1)))
