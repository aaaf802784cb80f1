"""``prepare``: pack the data a sweep's trials read, once, before they run.

The trials of a sweep share one data block, so they read the same splits at the same size
and convention; only their tasks differ. The packed dataset holds the union of the tasks
of every model, decoded by the very reader a trial would open (``trial.data.make_reader``),
so any trial of the sweep can read it (:mod:`tasks.packed`).

The destination is a directory, or an object-store prefix (``s3://bucket/prefix``). For a
prefix the dataset is packed into a local staging directory exactly as for a directory
(the same resumable chunks, whichever runner decodes them), then published whole
(:func:`tasks.packed.remote.publish`: each file one object, the manifest last), and the
staged copy becomes this node's cached copy. Packing straight into objects was not
chosen: chunks fill rows of arrays across the whole split, which an object store, writing
only whole objects, cannot take piecemeal.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from mtsweep.cache import cache_home
from mtsweep.errors import MtsweepError
from mtsweep.shared_storage import SharedStorage, is_uri
from orchestrator.sweep.packing_on_ray import run_on_ray
from orchestrator.sweep.plan import Plan
from orchestrator.trial.data import (
    DataUse,
    data_uses,
    ensure_data,
    image_size,
    make_reader,
    packed_cache,
    selection,
)
from tasks.packed.remote import adopt, publish, remote_manifest
from tasks.packed.write import pack, run_in_process, run_in_processes

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
    out: Path | str,
    workers: int = 1,
    address: str | None = None,
    target_dtype: str = "float32",
    chunk_size: int = 256,
) -> dict[str, Any]:
    """Pack every split the plan's trials read into ``out`` (a directory or an object-store
    URI); returns the manifest.

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
    remote = str(out) if is_uri(out) else None
    found = None
    if remote is not None:
        SharedStorage(remote, "--to").check_writable()  # one line, before any packing
        found = remote_manifest(remote)
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
    staging = staging_dir(remote) if remote is not None else Path(out)
    manifest = pack(
        staging,
        readers,
        dataset=dataset,
        tasks=tasks,
        size=image_size(dataset, data),
        source=root,
        selection=selection(data),
        target_dtype=target_dtype,
        chunk_size=chunk_size,
        runner=runner,
        published=(remote, found) if remote is not None else None,
    )
    if remote is not None and found is None:
        publish(staging, remote, manifest)
        adopt(staging, packed_cache(), manifest)
    return manifest


def staging_dir(uri: str) -> Path:
    """Where a dataset for ``uri`` is packed before it is published (one per destination,
    so an interrupted prepare resumes its chunks)."""
    return cache_home() / "packed-staging" / hashlib.sha256(uri.encode()).hexdigest()[:16]


def _ray_running() -> bool:
    try:
        import ray
    except ImportError:
        return False
    return ray.is_initialized()
