"""mtsweep's Python API, for notebooks and scripts: run a sweep, read its trials and results.

    import mtsweep
    mtsweep.run("taskonomy-pairs", tasks=["s", "d", "n"], overrides={"train.epochs": 3},
                out="runs/fig7-small")
    trials = mtsweep.trials("runs/fig7-small")        # DESIGN's trials table
    fig7 = mtsweep.results("runs/fig7-small")["fig7"]  # the reduced result table

Everything the CLI does goes through the same life cycle (``orchestrator.sweep``), so a run
started here resumes from the CLI and the other way round.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

__version__ = version("mtsweep")
__all__ = ["__version__", "results", "run", "trials"]


def _override_text(key: str, value: Any) -> str:
    return f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"


def run(
    sweep: str,
    preset: str = "smoke",
    overrides: Mapping[str, Any] | None = None,
    out: str | Path | None = None,
    tasks: Sequence[str] | None = None,
    seeds: Sequence[int] | None = None,
    data_root: str | Path | None = None,
    tracking_uri: str | None = None,
    storage: str | Path | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    reduce: bool = True,
) -> Counter[str]:
    """Run (or resume) a sweep; returns the count of trials by MLflow state.

    ``overrides`` are ``--set`` pairs: ``{"train.epochs": 3}`` changes the preset exactly as
    the same edit of the YAML would (and so the trials' identity).
    """
    from orchestrator.sweep.lifecycle import reduce_run, run_sweep
    from orchestrator.sweep.plan import NO_REDUCTION, Request, make_plan

    request = Request(
        sweep=str(Path(sweep).resolve()) if Path(sweep).suffix in (".yaml", ".yml") else sweep,
        preset=preset,
        overrides=tuple(_override_text(k, v) for k, v in (overrides or {}).items()),
        tasks=tuple(tasks) if tasks else None,
        seeds=tuple(int(s) for s in seeds) if seeds else None,
        data_root=str(Path(data_root).expanduser().resolve()) if data_root else None,
        tracking_uri=tracking_uri,
        storage=str(storage) if storage else None,
    )
    plan = make_plan(request, out=Path(out) if out else None)
    states = run_sweep(plan, address=address, num_cpus=num_cpus)
    if reduce and plan.sweep.reduction != NO_REDUCTION and states.get("FINISHED"):
        reduce_run(plan)
    return states


def _plan_of(out: str | Path):
    from orchestrator.sweep.plan import make_plan, read_request

    return make_plan(read_request(Path(out)), out=Path(out), require_data=False)


def trials(out: str | Path) -> pd.DataFrame:
    """The trials table of the sweep run in ``out`` (one row per final metric)."""
    from orchestrator.sweep.reading import export_trials

    return export_trials(_plan_of(out))


def results(out: str | Path) -> dict[str, pd.DataFrame]:
    """The sweep's reduced result tables, by reduction name, computed from its trials."""
    from orchestrator.reductions import get_reduction

    plan = _plan_of(out)
    reduction = plan.sweep.reduction
    table = trials(out)
    return {reduction: get_reduction(reduction).reduce(table, plan.sweep.dataset)}
