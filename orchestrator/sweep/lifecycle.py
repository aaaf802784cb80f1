"""A sweep's life cycle as the CLI and the Python API drive it: run (resuming), state,
failures, export and the sweep's own reduction.

Reading steps open the MLflow store read-only: asking about a sweep that never ran
creates nothing and says so.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pandas as pd

from orchestrator.sweep.plan import Plan, claim_out_dir
from orchestrator.sweep.ray_backend import BeforeTrial
from orchestrator.sweep.store import quiet_libraries
from orchestrator.sweep.tracking import TAG, Tracker
from orchestrator.trial.data import ensure_data
from sweeps.presets import DataConfig, parse_block
from sweeps.spec import TrialSpec

log = logging.getLogger("mtsweep")


def run_sweep(
    plan: Plan,
    address: str | None = None,
    force: bool = False,
    num_cpus: int | None = None,
    before_trial: BeforeTrial | None = None,
) -> Counter[str]:
    """Run every unfinished trial of the plan; returns the final MLflow states."""
    from orchestrator.sweep.ray_backend import run_pending, start_ray
    from orchestrator.sweep.recorder import ingest_kept_results

    # Data first: a bad --data-root must fail before anything is written. Synthetic data is
    # made once here, before any worker asks for it.
    for data in {json.dumps(s.data, sort_keys=True) for s in plan.specs}:
        ensure_data(plan.sweep.dataset, parse_block(DataConfig, json.loads(data), "data"))
    claim_out_dir(plan, force)
    quiet_libraries()
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
            plan.resources,
            total=len(plan.specs),
            already_done=len(finished),
            before_trial=before_trial,
        )
    return trial_states(plan, tracker)


def open_tracker(plan: Plan) -> Tracker:
    """The sweep's store, read-only: NoResultsError when the sweep never ran."""
    return Tracker(plan.tracking_uri, plan.sweep.name, plan.preset, create=False)


def trial_states(plan: Plan, tracker: Tracker | None = None) -> Counter[str]:
    """MLflow's state of each planned trial, 'PENDING' where it has no run yet."""
    runs = (tracker or open_tracker(plan)).runs_by_key()
    return Counter(runs[k].info.status if k in runs else "PENDING" for k in plan.keys)


def running(plan: Plan, tracker: Tracker | None = None) -> list[tuple[TrialSpec, dict[str, str]]]:
    """(trial, its run's tags) for every trial whose run is RUNNING: epoch i/N, node, start."""
    runs = (tracker or open_tracker(plan)).runs_by_key()
    out = []
    for spec in plan.specs:
        run = runs.get(spec.trial_key)
        if run is not None and run.info.status == "RUNNING":
            tags = dict(run.data.tags)
            tags["start_time_ms"] = str(run.info.start_time or 0)
            out.append((spec, tags))
    return out


def failures(plan: Plan, tracker: Tracker | None = None) -> list[tuple[TrialSpec, str, str]]:
    """(trial, error line, run id) for every trial whose run ended FAILED."""
    runs = (tracker or open_tracker(plan)).runs_by_key()
    out = []
    for spec in plan.specs:
        run = runs.get(spec.trial_key)
        if run is not None and run.info.status == "FAILED":
            out.append((spec, run.data.tags.get(f"{TAG}error", ""), run.info.run_id))
    return out


def export_trials(plan: Plan, tracker: Tracker | None = None) -> pd.DataFrame:
    """The trials table of the plan's trials (DESIGN's long format)."""
    table = (tracker or open_tracker(plan)).trials_table()
    return table[table["trial_key"].isin(set(plan.keys))].reset_index(drop=True)


def reduce_run(plan: Plan) -> tuple[list[Path], str]:
    """The sweep's own reduction into ``<out>/results/``, after a run."""
    from orchestrator.reductions import reduce_to

    results = plan.out / "results"
    reduction = plan.sweep.reduction
    return reduce_to(
        export_trials(plan),
        reduction,
        plan.sweep.dataset,
        results / f"{reduction}.parquet",
        results,
    )
