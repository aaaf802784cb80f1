"""``prepare``: pack the data a sweep's trials read, once, before they run.

The trials of a sweep share one data block, so they read the same splits at the same size
and convention; only their tasks differ. The packed dataset holds the union of the tasks
of every model, decoded by the very reader a trial would open (``trial.data.make_reader``),
so any trial of the sweep can read it (:mod:`tasks.packed`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from orchestrator.sweep.plan import Plan
from orchestrator.trial.data import (
    DataUse,
    data_uses,
    ensure_data,
    image_size,
    make_reader,
    selection,
)
from tasks.errors import MtsweepError
from tasks.packed import pack, run_in_process, run_in_processes, run_on_ray

log = logging.getLogger(__name__)


class PrepareError(MtsweepError):
    """A request to pack data that cannot be honoured."""


def sweep_data(plan: Plan) -> DataUse:
    """The one data block of a plan's trials, the union of their tasks and their splits."""
    uses = data_uses(plan.specs)
    if not uses:
        raise PrepareError(f"sweep {plan.sweep.name!r} has no trials to prepare data for")
    if len(uses) > 1:
        raise PrepareError("the trials of this sweep read different data blocks")
    return uses[0]


def prepare(
    plan: Plan,
    out: Path,
    workers: int = 1,
    address: str | None = None,
    target_dtype: str = "float32",
    chunk_size: int = 256,
) -> dict[str, Any]:
    """Pack every split the plan's trials read into ``out``; returns the manifest.

    Chunks run as Ray tasks when ``address`` is given or Ray is already initialised, on
    ``workers`` local processes when more than one, else in this process.
    """
    use = sweep_data(plan)
    dataset, data, tasks, splits = use.dataset, use.data, list(use.tasks), use.splits
    if data.packed:
        raise PrepareError(
            f"the preset already reads the packed dataset {data.packed}; "
            "drop data.packed to prepare from the source"
        )
    root = ensure_data(dataset, data)
    readers = {s: make_reader(dataset, root, data, tasks, s, cache=False) for s in splits}
    runner = run_in_process
    if address is not None or _ray_running():
        from orchestrator.sweep.ray_backend import start_ray

        start_ray(address)
        runner = run_on_ray
    elif workers > 1:

        def runner(path: Path):
            return run_in_processes(path, workers)

    log.info(
        "packing %s (%s) at size %d, tasks %s, into %s",
        ", ".join(f"{s} {len(r)}" for s, r in readers.items()),
        dataset,
        image_size(dataset, data),
        ",".join(t.name for t in tasks),
        out,
    )
    return pack(
        out,
        readers,
        dataset=dataset,
        tasks=tasks,
        size=image_size(dataset, data),
        source=root,
        selection=selection(data),
        target_dtype=target_dtype,
        chunk_size=chunk_size,
        runner=runner,
    )


def _ray_running() -> bool:
    try:
        import ray
    except ImportError:
        return False
    return ray.is_initialized()
