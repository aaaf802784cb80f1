"""A sweep's life cycle as the CLI drives it: plan, run (resuming), report status, reduce."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from orchestrator.data import ensure_data
from orchestrator.plots import plot_fig7
from orchestrator.plots_paper import REDUCTIONS
from orchestrator.reduce import ReduceError, reduce_trials, summarize, summary_line, write_result
from orchestrator.scheduler import Resources, ingest_kept_results, run_pending, start_ray
from orchestrator.tracking import Tracker, configure_quiet_mlflow, default_tracking_uri
from sweeps.definition import Sweep, SweepError
from sweeps.spec import TrialSpec

log = logging.getLogger("mtsweep")
MARKER = "sweep.json"


class OutDirError(ValueError):
    """The output directory belongs to another sweep (or cannot be used)."""


@dataclass
class Plan:
    """A sweep under a preset, narrowed by --tasks/--seeds, with where it keeps things."""

    sweep: Sweep
    preset: str
    out: Path
    specs: list[TrialSpec]
    tracking_uri: str
    storage: Path
    notes: list[str] = field(default_factory=list)

    @property
    def keys(self) -> list[str]:
        return [s.trial_key for s in self.specs]


def default_out(sweep: str, preset: str) -> Path:
    return Path("runs") / f"{sweep}-{preset}"


def make_plan(
    sweep: Sweep,
    preset: str,
    out: Path | None = None,
    tasks: list[str] | None = None,
    seeds: list[int] | None = None,
    data_root: str | None = None,
    tracking_uri: str | None = None,
    storage: Path | None = None,
) -> Plan:
    specs = sweep.expand(preset, tasks=tasks, seeds=seeds, data_root=data_root)
    unique = {s.trial_key: s for s in specs}
    if len(unique) != len(specs):
        raise SweepError(
            f"sweep {sweep.name!r} expands to duplicate trials; make its models distinct"
        )
    out = (out or default_out(sweep.name, preset)).resolve()
    return Plan(
        sweep=sweep,
        preset=preset,
        out=out,
        specs=specs,
        tracking_uri=tracking_uri or default_tracking_uri(out),
        storage=(storage or out / "ray").resolve(),
    )


def claim_out_dir(plan: Plan, force: bool = False) -> None:
    """Refuse to mix two sweeps' results in one directory unless told to."""
    marker = plan.out / MARKER
    mine = {"sweep": plan.sweep.name, "preset": plan.preset}
    if marker.exists():
        try:
            theirs = json.loads(marker.read_text())
        except (OSError, json.JSONDecodeError):
            theirs = {}
        if theirs != mine and not force:
            raise OutDirError(
                f"{plan.out} holds results of sweep {theirs.get('sweep')!r} preset "
                f"{theirs.get('preset')!r}; choose another --out or pass --force"
            )
    plan.out.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(mine))


def run_sweep(
    plan: Plan,
    resources: Resources,
    address: str | None = None,
    force: bool = False,
    num_cpus: int | None = None,
) -> Counter[str]:
    """Run every unfinished trial of the plan; returns the final MLflow states."""
    # Data first: a bad --data-root must fail before anything is written. Synthetic data is
    # made once here, before any worker asks for it.
    for data in {json.dumps(s.data, sort_keys=True) for s in plan.specs}:
        ensure_data(plan.sweep.dataset, json.loads(data))
    claim_out_dir(plan, force)
    configure_quiet_mlflow()
    tracker = Tracker(plan.tracking_uri, plan.sweep.name, plan.preset)
    finished = tracker.finished_keys() & set(plan.keys)
    finished |= ingest_kept_results(tracker, plan.specs, plan.storage, finished)
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
        run_pending(
            pending,
            tracker,
            plan.storage,
            resources,
            total=len(plan.specs),
            already_done=len(finished),
        )
    return trial_states(plan, tracker)


def trial_states(plan: Plan, tracker: Tracker | None = None) -> Counter[str]:
    tracker = tracker or Tracker(plan.tracking_uri, plan.sweep.name, plan.preset)
    runs = tracker.runs_by_key()
    return Counter(runs[k].info.status if k in runs else "PENDING" for k in plan.keys)


def failures(plan: Plan) -> list[tuple[TrialSpec, str]]:
    """(trial, error) for every trial whose run ended FAILED."""
    tracker = Tracker(plan.tracking_uri, plan.sweep.name, plan.preset)
    runs = tracker.runs_by_key()
    out = []
    for spec in plan.specs:
        run = runs.get(spec.trial_key)
        if run is not None and run.info.status == "FAILED":
            out.append((spec, run.data.tags.get("mtsweep.error", "")))
    return out


def export_trials(plan: Plan) -> pd.DataFrame:
    tracker = Tracker(plan.tracking_uri, plan.sweep.name, plan.preset)
    table = tracker.trials_table()
    return table[table["trial_key"].isin(set(plan.keys))].reset_index(drop=True)


def reduce_to(
    trials: pd.DataFrame, reduction: str, dataset: str, table_path: Path, picture_dir: Path | None
) -> tuple[list[Path], str]:
    """Reduce a trials table the sweep's way; returns the files written and the summary line."""
    check_reduction(reduction)
    if reduction == "fig7":
        result = reduce_trials(trials, dataset=dataset)
        write_result(result, table_path)
        pictures = plot_fig7(result, picture_dir, dataset=dataset) if picture_dir else []
        return [Path(table_path), *pictures], summary_line(summarize(result))
    return REDUCTIONS[reduction](trials, dataset, table_path, picture_dir)


def check_reduction(reduction: str) -> None:
    """Fig. 7's reducer or one of ``plots_paper.REDUCTIONS``; anything else is refused."""
    if reduction != "fig7" and reduction not in REDUCTIONS:
        known = ", ".join(["fig7", *REDUCTIONS])
        raise ReduceError(f"unknown reduction {reduction!r}; known: {known}")


def reduce_run(plan: Plan) -> tuple[list[Path], str]:
    """The sweep's own reduction into ``<out>/results/``, after a run."""
    results = plan.out / "results"
    reduction = plan.sweep.reduction
    return reduce_to(
        export_trials(plan),
        reduction,
        plan.sweep.dataset,
        results / f"{reduction}.parquet",
        results,
    )
