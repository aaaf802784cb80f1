"""Where a trial's data comes from: a packed dataset, a real data root, or synthetic data.

Synthetic data is generated into a cache keyed by its parameters (generation is
deterministic, so any node can make its own identical copy). Readers are kept per worker
process, so trials that reuse a Ray worker also reuse the decoded images. A packed dataset
(``mtsweep prepare``; ``data.packed`` or a ``--data-root`` holding a manifest) is checked
against the trial's dataset, tasks, size and convention before any of it is read. A
packed dataset published to object storage (``s3://…``, ``mtsweep prepare --to``) is
copied once per node into the cache (:func:`tasks.packed.remote.local_copy`) and
memory-mapped from there.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset, Subset

from mtsweep.cache import cache_home
from mtsweep.shared_storage import is_uri
from sweeps.presets import DataConfig
from sweeps.spec import TrialSpec
from tasks.datasets import get_dataset
from tasks.errors import DataError
from tasks.packed.manifest import check_manifest, is_packed, read_manifest
from tasks.packed.read import PackedSplit
from tasks.packed.remote import local_copy, require_manifest
from tasks.registry import Task, get_task

log = logging.getLogger(__name__)

SMALL_IMAGE = 64  # at or below this side, readers keep decoded samples in memory
_READERS: dict[tuple, Dataset] = {}


@dataclass(frozen=True)
class DataUse:
    """What a set of trials reads from one data block: its dataset, the union of their
    tasks (in first-seen order) and every split they open."""

    dataset: str
    data: DataConfig
    tasks: tuple[Task, ...]
    splits: tuple[str, ...]


def splits_of(spec: TrialSpec) -> tuple[str, ...]:
    """The splits a trial opens: training, evaluation, and the λ_a selection split of a
    model with auxiliary tasks."""
    ev = spec.config.evaluation
    select = (ev.select_split,) if ev.select_split and spec.aux_tasks else ()
    return tuple(dict.fromkeys((spec.config.data.train_split, ev.split, *select)))


def data_uses(specs: Iterable[TrialSpec]) -> list[DataUse]:
    """The data a set of trials needs, one entry per (dataset, data block): what the worker
    opens, pre-flight checks, ``prepare`` packs and ``estimate`` counts."""
    names: dict[tuple[str, DataConfig], dict[str, None]] = {}
    splits: dict[tuple[str, DataConfig], dict[str, None]] = {}
    for spec in specs:
        key = (spec.dataset, spec.config.data)
        names.setdefault(key, {}).update(dict.fromkeys(spec.train_tasks))
        splits.setdefault(key, {}).update(dict.fromkeys(splits_of(spec)))
    return [
        DataUse(
            dataset,
            data,
            tuple(get_task(dataset, n, convention=data.convention) for n in names[key]),
            tuple(splits[key]),
        )
        for key in names
        for dataset, data in [key]
    ]


def packed_cache() -> Path:
    """Where this node keeps its copies of packed datasets published to object storage."""
    return cache_home() / "packed"


def packed_uri(data: DataConfig) -> str | None:
    """The object-storage URI a data block reads a packed dataset from, if any."""
    where = data.packed or (data.root if data.source == "real" else None)
    return where if where and is_uri(where) else None


def synthetic_root(dataset: str, data: DataConfig) -> Path:
    return cache_home() / "synth" / f"{dataset}-n{data.n}-s{data.size}-seed{data.seed}"


def ensure_data(dataset: str, data: DataConfig) -> Path:
    """The local data root of a data block (a packed dataset first, copied to this node from
    object storage); synthetic data is generated if missing."""
    uri = packed_uri(data)
    if uri is not None:
        return local_copy(uri, packed_cache())
    if data.packed:
        read_manifest(Path(data.packed))  # complete, or a one-line error saying what to do
        return Path(data.packed)
    if data.source == "real":
        root = Path(data.root or "")
        if not data.root or not root.is_dir():
            raise DataError(
                f"data root {root} does not exist; pass --data-root to a {dataset} "
                "dataset directory"
            )
        if not any(root.iterdir()):
            raise DataError(
                f"data root {root} is empty; pass --data-root to a {dataset} dataset directory"
            )
        return root
    root = synthetic_root(dataset, data)
    if (root / ".complete").exists():
        return root
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    made = get_dataset(dataset).write_synthetic(tmp, n=data.n, size=data.size, seed=data.seed)
    (tmp / ".complete").write_text(f"{made.n_images}\n")
    try:
        os.replace(tmp, root)
    except OSError:  # another process finished the same (identical) data first
        shutil.rmtree(tmp, ignore_errors=True)
    log.info(
        "synthetic %s data: %d images in %s (%.1f s)", dataset, made.n_images, root, made.seconds
    )
    return root


def image_size(dataset: str, data: DataConfig) -> int:
    """The side trials train at: the preset's, else the synthetic size, else the dataset's."""
    if data.image_size is not None:
        return data.image_size
    synthetic = data.source == "synthetic" and not data.packed
    return data.size if synthetic else get_dataset(dataset).image_size


def selection(data: DataConfig) -> dict[str, str]:
    """Reader options that choose the samples: Taskonomy's official split set (the sweep
    loader refuses one for another dataset)."""
    return {"split_set": data.split_set} if data.split_set else {}


def make_reader(
    dataset: str, root: Path, data: DataConfig, tasks: list[Task], split: str, cache: bool
) -> Dataset:
    """The PNG reader of one split as trials use it (also what ``prepare`` packs)."""
    return get_dataset(dataset).reader(
        root, tasks, split=split, size=image_size(dataset, data), cache=cache, **selection(data)
    )


def open_reader(
    dataset: str, root: Path, data: DataConfig, tasks: list[Task], split: str, cache: bool
) -> Dataset:
    """The reader of one split from ``root`` (an ``ensure_data`` answer): the packed arrays
    when ``root`` holds a packed dataset whose manifest matches, else the PNG reader. The
    one choice of reader, shared by trials and pre-flight."""
    if not is_packed(root):
        return make_reader(dataset, root, data, tasks, split, cache=cache)
    check_manifest(
        read_manifest(root),
        where=root,
        dataset=dataset,
        tasks=tasks,
        size=image_size(dataset, data),
        selection=selection(data),
        split=split,
        source=_source(data),
    )
    return PackedSplit(root, split, tasks)


def _source(data: DataConfig) -> Path | None:
    """The source a packed dataset must have been made from: ``data.root`` beside
    ``data.packed``."""
    return Path(data.root) if data.packed and data.root and not is_uri(data.root) else None


def check_published(use: DataUse, uri: str) -> None:
    """A data block read from the packed dataset published at ``uri``: its manifest (the
    only object fetched) fits every split the trials read; PackedError in one line if not."""
    manifest, data, source = require_manifest(uri), use.data, _source(use.data)
    for split in (None, *use.splits):
        check_manifest(
            manifest,
            where=uri,
            dataset=use.dataset,
            tasks=use.tasks,
            size=image_size(use.dataset, data),
            selection=selection(data),
            split=split,
            source=source if split is None else None,  # the source's fingerprint: once
        )


def open_split(
    dataset: str,
    root: Path,
    data: DataConfig,
    tasks: list[Task],
    split: str,
    limit: int | None = None,
) -> Dataset:
    """The reader for one split, shared by every trial of this process that asks for it.

    Readers read exactly the trial's tasks, so a corrupt label file of one task fails only
    the trials that train or evaluate that task. A packed ``root`` is memory-mapped once
    its manifest matches; when ``data.packed`` is set and ``data.root`` names the source
    too, the source must be the one it was packed from.
    """
    size = image_size(dataset, data)
    key = (
        dataset,
        str(root),
        str(data.root if data.packed else None),
        split,
        size,
        data.split_set,
        tuple((t.name, t.convention) for t in tasks),
    )
    reader = _READERS.get(key)
    if reader is None:
        reader = open_reader(dataset, root, data, tasks, split, cache=size <= SMALL_IMAGE)
        _READERS[key] = reader
    if len(reader) == 0:
        raise DataError(f"no {split} images of {dataset} under {root}")
    if limit is not None and limit < len(reader):
        return Subset(reader, range(limit))
    return reader
