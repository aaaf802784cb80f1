"""The sweep's own MLflow run, and re-running finished trials after a code fix.

One parent run per sweep (tag ``mtsweep.role = sweep``) nests the trial runs in the UI. It
holds what was asked — the request, each ``--set`` and the resolved preset as params and as
files under ``request/`` (as Hydra's ``overrides.yaml`` or W&B's config) — with what code
(git commit, library versions), and what the reduction made: the result tables, pictures
and Markdown under ``results/`` and the paper's summary numbers as metrics. ``supersede``
retires trials' runs for ``--rerun``: their runs stay in the store (tagged
``mtsweep.superseded``), their kept results and checkpoints go, so the next schedule trains
and records them afresh.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from orchestrator.reductions import get_reduction
from orchestrator.reductions.table import read_result_table
from orchestrator.sweep.mlflow_schema import flat_params
from orchestrator.sweep.provenance import code_version, software_versions
from orchestrator.sweep.snapshot import Snapshot
from orchestrator.sweep.tracking import Tracker
from orchestrator.trial.result import kept_key
from sweeps.presets import SweepError, parse_override
from sweeps.spec import TrialSpec

if TYPE_CHECKING:
    from mtsweep.shared_storage import SharedStorage
    from orchestrator.sweep.plan import Plan

log = logging.getLogger(__name__)


def describe_sweep(tracker: Tracker, plan: Plan) -> None:
    """Record the request, its overrides, the resolved preset and the code on the sweep's run."""
    request = plan.request.to_dict()
    resolved = plan.sweep.resolved(plan.preset, list(plan.request.overrides))
    params = {
        "request.sweep": plan.sweep.name,
        "request.preset": plan.preset,
        "request.tasks": ",".join(request["tasks"] or ["all"]),
        "request.seeds": ",".join(str(s) for s in request["seeds"] or ()) or "preset",
        "request.data_root": str(request["data_root"] or ""),
        "request.overrides": " ".join(plan.request.overrides),
        "request.trials": str(len(plan.specs)),
    }
    for text in plan.request.overrides:
        path, value = parse_override(text)
        params[f"set.{'.'.join(path)}"] = str(value)
    params.update(flat_params("preset", resolved))
    params.update(software_versions())
    artifacts = {
        "request.json": json.dumps({**request, "sweep_name": plan.sweep.name}, indent=1).encode(),
        "overrides.yaml": yaml.safe_dump(list(plan.request.overrides)).encode(),
        "preset.yaml": yaml.safe_dump(resolved, sort_keys=False).encode(),
    }
    tracker.describe_sweep(params, code_version(), artifacts)


def record_reduction(tracker: Tracker, reduction: str, files: list[Path], summary: str) -> None:
    """Attach the reduction's files to the sweep's run; where the reduction gives summary
    numbers per evaluation (``summarize``), they become the run's metrics."""
    summarize = get_reduction(reduction).summarize
    metrics: dict[str, float] = {}
    for path in files:
        if path.suffix == ".parquet":
            for eval_name, numbers in summarize(read_result_table(path)).items():
                metrics.update(
                    {
                        f"summary/{eval_name}/{k}": float(v)
                        for k, v in numbers.items()
                        if isinstance(v, int | float)
                        and not isinstance(v, bool)
                        and math.isfinite(v)
                    }
                )
    tracker.record_reduction(files, summary, metrics)


def select_reruns(specs: list[TrialSpec], snapshot: Snapshot, which: list[str]) -> list[TrialSpec]:
    """The trials ``--rerun`` names: 'failed', 'all' or trial keys (or unique prefixes)."""
    chosen: dict[str, TrialSpec] = {}
    for word in which:
        if word == "all":
            chosen.update({s.trial_key: s for s in specs if snapshot.get(s.trial_key)})
        elif word == "failed":
            chosen.update(
                {
                    s.trial_key: s
                    for s in specs
                    if (r := snapshot.get(s.trial_key)) is not None and r.status == "FAILED"
                }
            )
        else:
            matches = [s for s in specs if s.trial_key.startswith(word)]
            if len(matches) != 1:
                raise SweepError(
                    f"--rerun {word!r} matches {len(matches)} trials of this sweep; give "
                    "'failed', 'all' or a trial key from 'mtsweep show'"
                )
            chosen[matches[0].trial_key] = matches[0]
    return list(chosen.values())


def supersede(
    tracker: Tracker, snapshot: Snapshot, specs: list[TrialSpec], storage: SharedStorage
) -> int:
    """Retire the runs, kept results and checkpoints of ``specs``; returns how many runs."""
    retired = tracker.supersede(
        snapshot, [s.trial_key for s in specs], time.strftime("%Y-%m-%dT%H:%M:%S")
    )
    for spec in specs:
        storage.delete(kept_key(spec.trial_key))
        storage.delete_tree(f"checkpoints/{spec.model_key}")
    if retired:
        log.info("--rerun: %d earlier run(s) kept and marked superseded", retired)
    return retired
