"""A sweep under a preset, narrowed and overridden, with where it keeps things.

``make_plan`` turns a request (sweep, preset, --set, --tasks, --seeds, --data-root, flags)
into the list of TrialSpecs and the places the run uses: the out directory, the MLflow
store, the checkpoint storage. ``claim_out_dir`` writes the request into
``<out>/sweep.json`` and the planned trials into ``<out>/trials.json``, so follow-up
commands given ``--out`` need nothing repeated (``RunFolder`` reads them back without
loading the sweep, its models or torch), and two sweeps never mix their results in one
directory.

A run folder can move: paths inside it (the default SQLite store, the default storage)
are recorded relative to it and read back against wherever it is now; a bucket URI is
recorded as given (it never holds credentials: see ``mtsweep.shared_storage``). Records of
older releases, with absolute paths, still load as written.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mtsweep.atomic import replace_atomically
from mtsweep.errors import MtsweepError
from mtsweep.shared_storage import SharedStorage, is_uri
from orchestrator.sweep.mlflow_store import SQLITE, default_tracking_uri, sqlite_path
from sweeps.spec import TrialSpec

if TYPE_CHECKING:
    from sweeps.definition import Sweep

REQUEST_FILE = "sweep.json"
TRIALS_FILE = "trials.json"
NO_REDUCTION = "none"  # a sweep whose trials are only recorded


class OutDirError(MtsweepError):
    """The output directory belongs to another sweep (or cannot be used)."""


@dataclass(frozen=True)
class Resources:
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 1


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
    storage: SharedStorage
    resources: Resources
    notes: list[str] = field(default_factory=list)

    @property
    def preset(self) -> str:
        return self.request.preset

    @property
    def sweep_name(self) -> str:
        return self.sweep.name

    @property
    def keys(self) -> list[str]:
        return [s.trial_key for s in self.specs]


@dataclass
class RunFolder:
    """A run folder's recorded sweep, read back without loading the sweep's code.

    What ``status``, ``logs`` and ``export`` need of a plan (its name, trials and places),
    from ``sweep.json`` and ``trials.json`` alone: no task tables, models or torch.
    """

    request: Request
    sweep_name: str
    out: Path
    specs: list[TrialSpec]
    tracking_uri: str
    storage: SharedStorage

    @property
    def preset(self) -> str:
        return self.request.preset

    @property
    def keys(self) -> list[str]:
        return [s.trial_key for s in self.specs]


def _inside(path: Path, out: Path) -> str:
    """``path`` relative to ``out`` when it lies inside it (so the folder can move)."""
    try:
        return path.resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        return str(path.resolve())


def _recorded_uri(uri: str, out: Path) -> str:
    db = sqlite_path(uri)
    return uri if db is None else f"{SQLITE}{_inside(db, out)}"


def _uri_at(uri: str | None, out: Path) -> str | None:
    """A recorded tracking URI read back: a relative SQLite path is relative to ``out``."""
    if uri is None or not uri.startswith(SQLITE):
        return uri
    path = Path(uri.removeprefix(SQLITE))
    return uri if path.is_absolute() else f"{SQLITE}{(out / path).resolve()}"


def _path_at(path: str | None, out: Path) -> str | None:
    if path is None or is_uri(path) or Path(path).is_absolute():
        return path
    return str((out / path).resolve())


def storage_of(request: Request, out: Path) -> SharedStorage:
    """The run's shared storage: ``--storage`` (a directory or a bucket URI), else
    ``<out>/ray``."""
    return SharedStorage(request.storage or out / "ray")


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
    request = Request.from_dict(raw)
    return replace(
        request,
        tracking_uri=_uri_at(request.tracking_uri, Path(out)),
        storage=_path_at(request.storage, Path(out)),
    )


def read_run_folder(out: Path) -> RunFolder | None:
    """The sweep recorded in ``out`` with its trials; None when ``out`` records no trials
    (a folder of an older release: plan it from its request instead)."""
    request = read_request(out)
    try:
        raw = json.loads((Path(out) / TRIALS_FILE).read_text())
        name = str(json.loads((Path(out) / REQUEST_FILE).read_text())["sweep_name"])
        specs = [TrialSpec.from_dict(d) for d in raw["trials"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    out = Path(out).resolve()
    return RunFolder(
        request=request,
        sweep_name=name,
        out=out,
        specs=specs,
        tracking_uri=request.tracking_uri or default_tracking_uri(out),
        storage=storage_of(request, out),
    )


def make_plan(
    request: Request,
    out: Path | None = None,
    cpus_per_trial: float | None = None,
    gpus_per_trial: float | None = None,
    max_failures: int = 1,
    require_data: bool = True,
) -> Plan:
    """Expand the request into trials; flags override the preset's resources."""
    from orchestrator.reductions import get_reduction
    from sweeps.definition import SweepError, load_sweep

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
        storage=storage_of(request, out),
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
    record["tracking_uri"] = _recorded_uri(plan.tracking_uri, plan.out)
    storage = plan.storage
    record["storage"] = (
        storage.location if storage.local_path is None else _inside(storage.local_path, plan.out)
    )
    trials = {"trials": [s.to_dict() for s in plan.specs]}
    replace_atomically(
        plan.out / TRIALS_FILE, lambda tmp: tmp.write_text(json.dumps(trials, indent=1))
    )
    replace_atomically(marker, lambda tmp: tmp.write_text(json.dumps(record, indent=1)))
