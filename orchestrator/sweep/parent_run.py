"""The sweep's own MLflow run, and re-running finished trials after a code fix.

One parent run per sweep (tag ``mtsweep.role = sweep``) nests the trial runs in the UI and
holds what the reduction made: the result tables, pictures and Markdown as artifacts and
the paper's summary numbers as metrics. ``supersede`` retires trials' runs for ``--rerun``:
their runs stay in the store (tagged ``mtsweep.superseded``), their kept results and
checkpoints go, so the next schedule trains and records them afresh.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from pathlib import Path

from mlflow.entities import Metric, RunTag

from orchestrator.reductions import get_reduction
from orchestrator.reductions.table import read_result_table
from orchestrator.sweep.tracking import SUPERSEDED, TAG, Tracker
from orchestrator.trial.result import kept_path
from sweeps.presets import SweepError
from sweeps.spec import TrialSpec

log = logging.getLogger(__name__)

ROLE = f"{TAG}role"


def open_sweep_run(tracker: Tracker, sweep: str, preset: str) -> str:
    """The sweep's parent run (created once); trial runs created from now on nest under it."""
    runs = tracker.client.search_runs(
        [tracker.experiment_id], filter_string=f"tags.`{ROLE}` = 'sweep'", max_results=1
    )
    if runs:
        run_id = runs[0].info.run_id
    else:
        tags = {ROLE: "sweep", f"{TAG}sweep": sweep, f"{TAG}preset": preset}
        run_id = tracker.client.create_run(
            tracker.experiment_id, tags=tags, run_name=f"{sweep}/{preset}"
        ).info.run_id
    tracker.parent_run_id = run_id
    return run_id


def record_reduction(
    tracker: Tracker, run_id: str, reduction: str, files: list[Path], summary: str
) -> None:
    """Attach the reduction's files to the sweep's run; where the reduction gives summary
    numbers per evaluation (``summarize``), they become the run's metrics."""
    now = int(time.time() * 1000)
    summarize = getattr(get_reduction(reduction), "summarize", None)
    metrics = []
    for path in files:
        if path.suffix == ".parquet" and summarize is not None:
            for eval_name, numbers in summarize(read_result_table(path)).items():
                metrics += [
                    Metric(f"summary/{eval_name}/{k}", float(v), now, 0)
                    for k, v in numbers.items()
                    if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
                ]
        tracker.client.log_artifact(run_id, str(path), artifact_path="results")
    tags = [RunTag(f"{TAG}summary", summary[:5000])]
    tracker.client.log_batch(run_id, metrics=metrics[:900], tags=tags)
    tracker.client.set_terminated(run_id, "FINISHED")


def select_reruns(specs: list[TrialSpec], tracker: Tracker, which: list[str]) -> list[TrialSpec]:
    """The trials ``--rerun`` names: 'failed', 'all', or trial keys (or unique prefixes)."""
    runs = tracker.runs_by_key()
    chosen: dict[str, TrialSpec] = {}
    for word in which:
        if word == "all":
            chosen.update({s.trial_key: s for s in specs if s.trial_key in runs})
        elif word == "failed":
            chosen.update(
                {
                    s.trial_key: s
                    for s in specs
                    if s.trial_key in runs and runs[s.trial_key].info.status == "FAILED"
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


def supersede(tracker: Tracker, specs: list[TrialSpec], storage: Path) -> int:
    """Retire the runs, kept results and checkpoints of ``specs``; returns how many runs."""
    runs = tracker.runs_by_key()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
    retired = 0
    for spec in specs:
        run = runs.get(spec.trial_key)
        if run is not None:
            tracker.client.set_tag(run.info.run_id, SUPERSEDED, stamp)
            retired += 1
        kept_path(storage, spec.trial_key).unlink(missing_ok=True)
        shutil.rmtree(storage / "checkpoints" / spec.model_key, ignore_errors=True)
    if retired:
        log.info("--rerun: %d earlier run(s) kept and marked superseded", retired)
    return retired
