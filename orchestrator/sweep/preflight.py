"""Checks a run passes before any trial runs or any file is written.

Everything here fails fast with one line (a ``PreflightError``) instead of later and
costlier: a resource request no node can hold would make Tune wait forever; a data root of
the wrong layout would fail inside every trial, each retried; a dead tracking server would
hang the driver; a ``--storage`` file, a ``ray://`` address or a bucket that cannot be
reached or written would end in a traceback after ``sweep.json`` and ``mlflow.db`` were
written. The checks only read, but for one probe object written to (and removed from) a
bucket: the data root is listed (never decoded), the tracking server is asked for
``/health``.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from pathlib import Path
from typing import Any

from mtsweep.errors import MtsweepError
from mtsweep.shared_storage import SharedStorage, first_line, is_uri, local_dir
from orchestrator.sweep.mlflow_store import check_tracking_uri
from orchestrator.sweep.plan import Plan, Resources
from orchestrator.trial.data import (
    check_published,
    data_uses,
    ensure_data,
    open_reader,
    packed_uri,
)
from tasks.fingerprint import fingerprint
from tasks.packed.manifest import packed_fingerprint
from tasks.packed.remote import require_manifest

log = logging.getLogger(__name__)


class PreflightError(MtsweepError):
    """A run that cannot work as asked; the message names what and why."""


def check_address(address: str | None) -> None:
    """Refuse Ray Client: under ``ray://`` Tune's loop, and with it every MLflow write and
    the outbox, runs on the head node, not in this driver (docs/cluster.md §1)."""
    if address and address.startswith("ray://"):
        raise PreflightError(
            f"--address {address}: Ray Client is not supported (the recorder would run on "
            "the head node); run mtsweep on the head with --address auto"
        )


def check_resources(res: Resources, num_cpus: int | None = None) -> None:
    """Finite, in-range numbers: a fraction of one GPU or whole GPUs, some CPU or GPU."""
    for name, value in (("cpus", res.cpus_per_trial), ("gpus", res.gpus_per_trial)):
        if not math.isfinite(value) or value < 0:
            raise PreflightError(f"--{name}-per-trial {value}: give a finite number >= 0")
    if res.cpus_per_trial == 0 and res.gpus_per_trial == 0:
        raise PreflightError("a trial must book some CPU or GPU; raise --cpus-per-trial")
    gpus = res.gpus_per_trial
    if gpus > 1 and gpus != int(gpus):
        raise PreflightError(
            f"--gpus-per-trial {gpus}: a trial books a fraction of one GPU or whole GPUs"
        )
    if num_cpus is not None and num_cpus < 1:
        raise PreflightError(f"--num-cpus {num_cpus}: the local Ray needs at least 1 CPU")


def check_local_capacity(res: Resources, num_cpus: int | None = None) -> None:
    """A request the local machine cannot hold (Tune would wait for it forever)."""
    cpus = num_cpus if num_cpus is not None else (os.cpu_count() or 1)
    gpus = 0
    if res.gpus_per_trial > 0:
        import torch

        gpus = torch.cuda.device_count()
    _fits(res, [{"CPU": cpus, "GPU": gpus}], "this machine")


def check_cluster_capacity(res: Resources) -> None:
    """A request no node of the connected cluster can hold (no autoscaling is assumed)."""
    import ray

    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    _fits(res, nodes, "any node of the Ray cluster")


def _fits(res: Resources, nodes: list[dict[str, float]], where: str) -> None:
    want = {"CPU": res.cpus_per_trial, "GPU": res.gpus_per_trial}
    if any(all(n.get(k, 0) >= v for k, v in want.items()) for n in nodes):
        return
    most = {k: max((n.get(k, 0) for n in nodes), default=0) for k in want}
    raise PreflightError(
        f"a trial books {want['CPU']:g} CPU and {want['GPU']:g} GPU but {where} has at most "
        f"{most['CPU']:g} CPU and {most['GPU']:g} GPU; lower --cpus-per-trial/--gpus-per-trial"
    )


def check_paths(plan: Plan) -> None:
    """--out is a directory (or can become one); a --storage bucket can be reached and
    written with the credentials of this environment (a --storage directory was checked
    when the plan opened it)."""
    local_dir(plan.out, "--out")
    if plan.storage.local_path is None:
        plan.storage.check_writable()


def check_data(plan: Plan) -> None:
    """For real data: the root (or packed copy) exists, has a known layout and holds every
    split and task the trials read, through the trial's own choice of reader.

    Opening a reader lists folders and files (or reads a packed manifest), decoding nothing;
    a packed dataset on object storage is checked by its manifest alone, not downloaded.
    """
    for use in data_uses(plan.specs):
        if use.data.source != "real" and not use.data.packed:
            continue
        uri = packed_uri(use.data)
        if uri is not None:
            check_published(use, uri)
            continue
        root = ensure_data(use.dataset, use.data)
        for split in use.splits:
            reader = open_reader(use.dataset, root, use.data, list(use.tasks), split, cache=False)
            if len(reader) == 0:
                raise PreflightError(f"no {split} images of {use.dataset} under {root}")


def preflight(plan: Plan, address: str | None, num_cpus: int | None) -> None:
    """Every check that needs neither Ray nor a write, cheapest first."""
    check_address(address)
    check_resources(plan.resources, num_cpus)
    check_paths(plan)
    check_tracking_uri(plan.tracking_uri)
    check_data(plan)
    if not address:
        check_local_capacity(plan.resources, num_cpus)


def check_from_workers(plan: Plan) -> None:
    """On a cluster: every node sees the driver's storage, and one node sees the data.

    The driver writes a probe object into storage; one zero-CPU task pinned to each live
    node reads it through its own ``SharedStorage`` (a storage that is only the driver's
    local disk, or a bucket a node has no credentials for, fails here, not by restarting
    trials from scratch on another node later).
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    storage = plan.storage
    probe = f".probe-{uuid.uuid4().hex}"
    storage.write_bytes(probe, probe.encode())
    try:
        remote = ray.remote(num_cpus=0)(_worker_check)
        nodes = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        calls = [
            remote.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)
            ).remote(storage, probe, plan if i == 0 else None)
            for i, node in enumerate(nodes)
        ]
        for node, problem in zip(nodes, ray.get(calls, timeout=120), strict=True):
            if problem:
                raise PreflightError(f"node {node[:12]}: {problem}")
    finally:
        storage.delete(probe)


def _worker_check(storage: SharedStorage, probe: str, plan: Plan | None) -> str | None:
    """Runs on a node: None when it reads the probe (and the data, if asked), else why not."""
    try:
        data = storage.read_bytes(probe)
    except Exception as e:  # noqa: BLE001 - a network, permission or credentials error
        return (
            f"cannot read storage {storage.location} ({first_line(e)}); give every node "
            "the store's credentials"
        )
    if data is None:
        fix = "mount it on every node" if storage.is_local else "give every node the same store"
        return f"storage {storage.location} does not hold the driver's {probe} here; {fix}"
    if data != probe.encode():
        return f"storage {storage.location} holds another object at {probe}"
    if plan is not None:
        try:
            check_data(plan)
        except MtsweepError as e:
            return str(e)
    return None


def real_data_fingerprints(plan: Plan) -> dict[str, Any]:
    """Fingerprint of each real data root of the plan (none for synthetic data); a packed
    dataset in a bucket is known by its published manifest's."""
    datas = [s.config.data for s in plan.specs]
    roots = {d.root for d in datas if d.source == "real" and d.root}
    return {
        root: packed_fingerprint(require_manifest(root))
        if is_uri(root)
        else fingerprint(Path(root))
        for root in sorted(roots)
    }
