"""mtsweep's Python API, for notebooks and scripts: run a sweep, read its trials and results.

    import mtsweep
    mtsweep.run("taskonomy-pairs", tasks=["s", "d", "n"], overrides={"train.epochs": 3},
                out="runs/fig7-small")
    mtsweep.status("runs/fig7-small").states          # Counter({'FINISHED': 9})
    trials = mtsweep.trials("runs/fig7-small")        # the trials table (docs/formats.md §4)
    fig7 = mtsweep.results("runs/fig7-small")["fig7"]  # the reduced result table

``run`` shows the driver's progress lines while it runs (``progress=False``: quiet), or
hands each ``ProgressReport`` to a function of yours (``progress=callback``).

Everything the CLI does goes through the same life cycle (``orchestrator.sweep``), so a run
started here resumes from the CLI and the other way round.

The package also holds what every other package may import, below ``tasks`` in the import
order: the error base (:mod:`mtsweep.errors`), atomic writes (:mod:`mtsweep.atomic`), the
cache directory (:mod:`mtsweep.cache`), the name registry (:mod:`mtsweep.registry`) and
shared storage (:mod:`mtsweep.shared_storage`). So importing ``mtsweep`` imports nothing heavy; the
API functions import the orchestrator when called.
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

if TYPE_CHECKING:
    from orchestrator.sweep.progress import ProgressReport
    from orchestrator.sweep.reading import SweepStatus

__version__ = version("mtsweep")
__all__ = ["__version__", "results", "run", "status", "trials"]


def _override_text(key: str, value: Any) -> str:
    import yaml  # here, so that the shared modules of this package stay light to import

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
    progress: bool | Callable[[ProgressReport], None] = True,
    extend: bool = False,
) -> Counter[str]:
    """Run (or resume) a sweep; returns the count of trials by MLflow state.

    ``overrides`` are ``--set`` pairs: ``{"train.epochs": 3}`` changes the preset exactly as
    the same edit of the YAML would (and so the trials' identity). An ``out`` that holds the
    sweep with other tasks, seeds or overrides is refused unless ``extend`` (as ``--extend``).
    ``storage`` (as ``--storage``): a directory every node mounts or a bucket URI such as
    ``s3://bucket/prefix``, its credentials from the store's usual environment.
    ``progress``: True shows the driver's lines (the plan, progress, each failure) on stderr
    where logging is not set up (a notebook); a function gets each ``ProgressReport``
    instead; False is quiet.
    """
    from orchestrator.sweep.lifecycle import reduce_run, run_sweep
    from orchestrator.sweep.plan import NO_REDUCTION, Request, make_plan
    from orchestrator.sweep.request_guard import guard_request

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
    plan = guard_request(make_plan(request, out=Path(out) if out else None), extend=extend)
    listener = progress if callable(progress) else None
    with _driver_lines(shown=progress is True):
        states = run_sweep(plan, address=address, num_cpus=num_cpus, on_progress=listener)
        if reduce and plan.sweep.reduction != NO_REDUCTION and states.get("FINISHED"):
            reduce_run(plan)
    return states


DRIVER_LOGGERS = ("mtsweep", "orchestrator")  # the driver's lines: plan, progress, failures


@contextmanager
def _driver_lines(shown: bool) -> Iterator[None]:
    """The driver's log lines on stderr for the call, unless logging is set up already."""
    if not shown or logging.getLogger().handlers:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    loggers = [logging.getLogger(name) for name in DRIVER_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.INFO)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


def status(out: str | Path) -> SweepStatus:
    """Each trial's state in run folder ``out`` (``.states`` counts them by state,
    ``.of("FAILED")`` lists the failed ones with their error line)."""
    from orchestrator.sweep.plan import read_run_folder
    from orchestrator.sweep.reading import sweep_status

    return sweep_status(read_run_folder(Path(out)) or _plan_of(out))


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
