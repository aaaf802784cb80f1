"""A packed dataset: every sample decoded once into ``.npy`` arrays that trials memory-map.

Decoding a 512-px PNG view with its labels costs ~20 ms of CPU; a paper trial reads ~235k
views per epoch, so a GPU would wait on the decoder. ``mtsweep prepare`` decodes each view
once, with the reader a trial would use (same tasks, size and target convention), into
plain NumPy ``.npy`` files, one per array and split::

    PACKED/manifest.json            written last (by rename): the dataset is complete
    PACKED/progress.json            chunks written so far (a killed prepare resumes here)
    PACKED/<split>/image.npy        uint8 (N, 3, H, W)
    PACKED/<split>/target.<task>.npy  float32/float16, or uint8 class ids
    PACKED/<split>/mask.<task>.npy  bool (N, 1, H, W)
    PACKED/<split>/ids.json         the reader's sample ids, in order (ids/<chunk>.json while packing)

Trials open the arrays with ``np.load(mmap_mode='r')``, so every trial on one node shares
one copy in the page cache. Images stay uint8 until they are on the training device
(:meth:`PackedSplit.quantised` and :meth:`PackedSplit.finish`); targets computed from the
image (the autoencoder's) are not stored but computed there too.

Equality with the PNG reader: targets and masks are the reader's exactly (float32 targets;
``float16`` stores them to 2⁻¹¹ relative error), images are the reader's rounded to 8 bits
(|Δ| ≤ 0.5/255). When the files are already at the training size the reader's images are
8-bit values, so the packed samples are bit-identical.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from tasks.atomic import replace_atomically
from tasks.batches import Batch
from tasks.errors import DataError
from tasks.registry import Task

log = logging.getLogger(__name__)

FORMAT = "mtsweep-packed"
# 2: the taskonomy convention masks depth-masked tasks by depth_euclidean (was depth_zbuffer)
VERSION = 2
MANIFEST = "manifest.json"
PROGRESS = "progress.json"
TARGET_DTYPES = ("float32", "float16")
FINGERPRINT_SAMPLE = 256  # files whose size and mtime enter the source digest
LOG_EVERY_S = 5.0  # between progress lines


class PackedError(DataError):
    """A packed dataset that is missing, incomplete, or not the one a sweep needs."""


# --------------------------------------------------------------------------- fingerprint


def fingerprint(root: Path) -> dict[str, Any]:
    """What identifies a source directory cheaply: its path, file count, and a digest of the
    relative path, size and mtime of every k-th file (k chosen for ~256 files)."""
    root = Path(root).resolve()
    files: list[str] = []
    for folder, _, names in os.walk(root):
        rel = os.path.relpath(folder, root)
        files.extend(os.path.normpath(os.path.join(rel, n)) for n in names)
    files.sort()
    step = max(1, len(files) // FINGERPRINT_SAMPLE)
    digest = hashlib.sha256()
    for name in files[::step]:
        st = os.stat(root / name)
        digest.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {"root": str(root), "files": len(files), "digest": digest.hexdigest()[:16]}


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class ArrayInfo:
    """One stored array of a split: its file, stored dtype and per-sample shape, and the
    dtype a sample gives back (class ids are stored as uint8, read back as int64)."""

    file: str
    dtype: str
    shape: tuple[int, ...]
    load_dtype: str

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "load_dtype": self.load_dtype,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ArrayInfo:
        return cls(d["file"], d["dtype"], tuple(d["shape"]), d["load_dtype"])


def _torch_dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


def _layout(
    split: str, probe: Batch, tasks: Sequence[Task], target_dtype: str
) -> dict[str, ArrayInfo]:
    """The arrays of one split, from one decoded sample."""
    arrays = {"image": ArrayInfo(f"{split}/image.npy", "uint8", tuple(probe["image"].shape), "")}
    for task in tasks:
        if task.target_is_input:
            continue
        target = probe["targets"][task.name]
        if task.label_is_class:
            stored = "uint8"
        elif target.is_floating_point():
            stored = target_dtype
        else:
            stored = str(target.dtype).removeprefix("torch.")
        arrays[f"target.{task.name}"] = ArrayInfo(
            f"{split}/target.{task.name}.npy",
            stored,
            tuple(target.shape),
            str(target.dtype).removeprefix("torch."),
        )
        mask = probe["masks"][task.name]
        arrays[f"mask.{task.name}"] = ArrayInfo(
            f"{split}/mask.{task.name}.npy", "bool", tuple(mask.shape), "bool"
        )
    return arrays


def quantise_image(image: torch.Tensor) -> np.ndarray:
    """A float image in [0, 1] as the nearest 8-bit values."""
    return (image * 255.0).round_().clamp_(0, 255).to(torch.uint8).numpy()


def _stored(name: str, info: ArrayInfo, value: torch.Tensor) -> np.ndarray:
    if name == "image":
        return quantise_image(value)
    arr = value.numpy()
    if info.dtype == "uint8" and arr.dtype != np.uint8:
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise PackedError(f"{name}: class ids outside 0..255 cannot be packed as uint8")
    return arr.astype(info.dtype, copy=False)


# --------------------------------------------------------------------------- writing


@dataclass(frozen=True)
class Chunk:
    """Samples [start, stop) of one split: the unit of work, of progress and of resume."""

    split: str
    index: int
    start: int
    stop: int


def write_chunk(
    out: Path, chunk: Chunk, reader: Dataset, arrays: Mapping[str, ArrayInfo]
) -> tuple[Chunk, float]:
    """Decode one chunk with ``reader`` into the split's memory maps (run by any worker)."""
    t0 = time.perf_counter()
    torch.set_num_threads(1)
    maps = {name: np.load(out / info.file, mmap_mode="r+") for name, info in arrays.items()}
    ids = []
    for i in range(chunk.start, chunk.stop):
        sample = reader[i]
        ids.append(str(sample.get("id", i)))
        for name, info in arrays.items():
            kind, _, task = name.partition(".")
            value = sample["image"] if kind == "image" else sample[f"{kind}s"][task]
            maps[name][i] = _stored(name, info, value)
    for arr in maps.values():
        arr.flush()
    ids_file = out / chunk.split / "ids" / f"{chunk.index}.json"
    replace_atomically(ids_file, lambda tmp: tmp.write_text(json.dumps(ids)))
    return chunk, time.perf_counter() - t0


Runner = Callable[[list[tuple[Chunk, Dataset, dict[str, ArrayInfo]]]], Iterable[Chunk]]


def run_in_process(out: Path) -> Runner:
    def run(jobs):
        for chunk, reader, arrays in jobs:
            yield write_chunk(out, chunk, reader, arrays)[0]

    return run


_FORKED_READERS: list[Dataset] = []  # what forked workers inherit instead of a pickle


def _write_forked(out: Path, chunk: Chunk, reader: int, arrays: Mapping[str, ArrayInfo]):
    return write_chunk(out, chunk, _FORKED_READERS[reader], arrays)


def run_in_processes(out: Path, workers: int) -> Runner:
    """Chunks on ``workers`` forked local processes, which inherit the readers (their
    tasks hold closures that do not pickle) and decode with one torch thread each."""

    def run(jobs):
        readers = {id(r): r for _, r, _ in jobs}
        index = {key: i for i, key in enumerate(readers)}
        _FORKED_READERS[:] = list(readers.values())
        try:
            with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
                futures = [pool.submit(_write_forked, out, c, index[id(r)], a) for c, r, a in jobs]
                for future in as_completed(futures):
                    yield future.result()[0]
        finally:
            _FORKED_READERS.clear()

    return run


def run_on_ray(out: Path) -> Runner:
    """Chunks as Ray tasks over the cluster Ray is connected to (``out`` and the data
    root must be on storage every node sees)."""
    import ray

    remote = ray.remote(num_cpus=1, max_retries=2)(write_chunk)

    def run(jobs):
        readers: dict[int, Any] = {}
        pending = []
        for chunk, reader, arrays in jobs:
            ref = readers.setdefault(id(reader), ray.put(reader))
            pending.append(remote.remote(out, chunk, ref, arrays))
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])[0]

    return run


class Progress:
    """Chunks already written, kept in ``progress.json`` with the request they belong to."""

    def __init__(self, out: Path, request: dict[str, Any]):
        self.path = out / PROGRESS
        self.request = request
        self.done: dict[str, set[int]] = {}
        try:
            raw = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            raw = {}
        if raw.get("request") == request:
            self.done = {s: set(v) for s, v in raw.get("done", {}).items()}

    def has(self, chunk: Chunk) -> bool:
        return chunk.index in self.done.get(chunk.split, set())

    def add(self, chunk: Chunk) -> None:
        self.done.setdefault(chunk.split, set()).add(chunk.index)
        record = {"request": self.request, "done": {s: sorted(v) for s, v in self.done.items()}}
        replace_atomically(self.path, lambda tmp: tmp.write_text(json.dumps(record)))


def convention_of(tasks: Sequence[Task]) -> str:
    conventions = sorted({t.convention for t in tasks})
    return conventions[0] if conventions else ""


def pack(
    out: Path,
    readers: Mapping[str, Dataset],
    *,
    dataset: str,
    tasks: Sequence[Task],
    size: int,
    source: Path,
    selection: Mapping[str, Any] | None = None,
    target_dtype: str = "float32",
    chunk_size: int = 256,
    runner: Callable[[Path], Runner] | None = None,
) -> dict[str, Any]:
    """Decode every sample of ``readers`` (split → reader) into ``out``; returns the manifest.

    ``size`` is the reader's size argument; ``selection`` records reader options that pick
    the samples (Taskonomy's ``split_set``). Resumable: chunks already listed in
    ``progress.json`` for the same request are skipped.
    The manifest is written last, by rename, so a dataset with a manifest is complete.
    """
    if target_dtype not in TARGET_DTYPES:
        raise PackedError(f"target dtype {target_dtype!r}: choose one of {TARGET_DTYPES}")
    out = Path(out).resolve()
    source_print = fingerprint(source)
    request = {
        "dataset": dataset,
        "tasks": sorted(t.name for t in tasks),
        "convention": convention_of(tasks),
        "size": int(size),
        "selection": dict(selection or {}),
        "target_dtype": target_dtype,
        "source": source_print,
        "counts": {s: len(r) for s, r in readers.items()},
        "chunk_size": chunk_size,
    }
    existing = out / MANIFEST
    if existing.exists():
        manifest = read_manifest(out)
        if _same_request(manifest, request):
            log.info("%s already holds this packed dataset; nothing to do", out)
            return manifest
        raise PackedError(
            f"{out} already holds another packed dataset ({describe(manifest)}); "
            "choose another --out or remove it"
        )
    out.mkdir(parents=True, exist_ok=True)
    progress = Progress(out, request)
    layouts: dict[str, dict[str, ArrayInfo]] = {}
    jobs = []
    for split, reader in readers.items():
        n = len(reader)
        if n == 0:
            raise PackedError(f"no {split} samples of {dataset} under {source}")
        layouts[split] = arrays = _layout(split, reader[0], tasks, target_dtype)
        fresh = not progress.done.get(split)
        (out / split).mkdir(exist_ok=True)
        for info in arrays.values():
            path = out / info.file
            if fresh or not path.exists():
                np.lib.format.open_memmap(path, "w+", np.dtype(info.dtype), (n, *info.shape))
                progress.done.pop(split, None)
        for index, start in enumerate(range(0, n, chunk_size)):
            chunk = Chunk(split, index, start, min(start + chunk_size, n))
            if not progress.has(chunk):
                jobs.append((chunk, reader, arrays))
    total = sum(len(r) for r in readers.values())
    left = sum(c.stop - c.start for c, _, _ in jobs)
    if left < total:
        log.info("resuming: %d of %d samples already packed", total - left, total)
    run = (runner or run_in_process)(out)
    t0, written, shown = time.perf_counter(), 0, 0.0
    for chunk in run(jobs):
        progress.add(chunk)
        written += chunk.stop - chunk.start
        now = time.perf_counter()
        if now - shown < LOG_EVERY_S and written < left:
            continue
        shown, rate = now, written / max(now - t0, 1e-9)
        log.info(
            "packed %d/%d samples (%.0f%%, %.0f/s, ~%.0f s left)",
            total - left + written,
            total,
            100 * (total - left + written) / total,
            rate,
            (left - written) / max(rate, 1e-9),
        )
    for split, reader in readers.items():
        _join_ids(out / split, -(-len(reader) // chunk_size))
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        **{k: v for k, v in request.items() if k not in ("chunk_size", "counts")},
        "derived": sorted(t.name for t in tasks if t.target_is_input),
        "splits": {
            split: {
                "count": len(readers[split]),
                "ids": f"{split}/ids.json",
                "arrays": {name: info.to_json() for name, info in arrays.items()},
            }
            for split, arrays in layouts.items()
        },
    }
    replace_atomically(existing, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1)))
    (out / PROGRESS).unlink(missing_ok=True)
    return manifest


def _join_ids(folder: Path, chunks: int) -> None:
    """The chunks' sample ids as one ``ids.json``."""
    ids = []
    for index in range(chunks):
        ids.extend(json.loads((folder / "ids" / f"{index}.json").read_text()))
    replace_atomically(folder / "ids.json", lambda tmp: tmp.write_text(json.dumps(ids)))
    shutil.rmtree(folder / "ids")


def _same_request(manifest: Mapping[str, Any], request: Mapping[str, Any]) -> bool:
    keys = ("dataset", "tasks", "convention", "size", "selection", "target_dtype", "source")
    counts = {s: v["count"] for s, v in manifest.get("splits", {}).items()}
    return all(manifest.get(k) == request[k] for k in keys) and counts == request["counts"]


# --------------------------------------------------------------------------- reading


def is_packed(path: Path | str | None) -> bool:
    """Whether ``path`` is a directory written by ``pack`` (complete or not)."""
    if not path:
        return False
    path = Path(path)
    return (path / MANIFEST).exists() or (path / PROGRESS).exists()


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a complete packed dataset; PackedError in one line otherwise."""
    path = Path(path)
    file = path / MANIFEST
    if not file.exists():
        hint = " (a prepare was interrupted: run it again)" if (path / PROGRESS).exists() else ""
        raise PackedError(
            f"{path} is not a complete packed dataset{hint}; make it with 'mtsweep prepare'"
        )
    try:
        manifest = json.loads(file.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise PackedError(f"{file} cannot be read ({e}); run 'mtsweep prepare' again") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise PackedError(
            f"{file} is not an {FORMAT} v{VERSION} manifest; run 'mtsweep prepare' again"
        )
    return manifest


def describe(manifest: Mapping[str, Any]) -> str:
    counts = ", ".join(f"{s} {v['count']}" for s, v in manifest["splits"].items())
    return (
        f"{manifest['dataset']} at size {manifest['size']}, "
        f"tasks {','.join(manifest['tasks'])}, convention {manifest['convention']}, {counts}"
    )


def check_manifest(
    manifest: Mapping[str, Any],
    *,
    where: Path,
    dataset: str,
    tasks: Sequence[Task],
    size: int,
    selection: Mapping[str, Any] | None = None,
    split: str | None = None,
    source: Path | None = None,
) -> None:
    """Refuse, in one line, a packed dataset that is not the one the trial would decode."""

    def refuse(what: str) -> PackedError:
        return PackedError(
            f"packed dataset {where} {what}; run 'mtsweep prepare' for this sweep and preset"
        )

    if manifest["dataset"] != dataset:
        raise refuse(f"holds {manifest['dataset']}, not {dataset}")
    missing = sorted({t.name for t in tasks} - set(manifest["tasks"]))
    if missing:
        raise refuse(f"lacks tasks {', '.join(missing)} (it has {', '.join(manifest['tasks'])})")
    if manifest["size"] != size:
        raise refuse(f"holds size {manifest['size']} images, the sweep trains at size {size}")
    if manifest.get("selection", {}) != dict(selection or {}):
        raise refuse(
            f"selects samples by {manifest.get('selection')}, the sweep by {dict(selection or {})}"
        )
    if tasks and manifest["convention"] != convention_of(tasks):
        raise refuse(
            f"has targets of convention {manifest['convention']!r}, "
            f"the sweep uses {convention_of(tasks)!r}"
        )
    if split is not None and split not in manifest["splits"]:
        raise refuse(f"has no {split} split (only {', '.join(manifest['splits'])})")
    if source is not None:
        now = fingerprint(source)
        if now != manifest["source"]:
            raise refuse(
                f"was made from {manifest['source']['root']} "
                f"({manifest['source']['files']} files), which differs from {now['root']} "
                f"({now['files']} files) now"
            )


class PackedSplit(Dataset):
    """One split of a packed dataset, read by memory map.

    ``split[i]`` is a reader sample (float image in [0, 1], the tasks' targets and masks,
    ``id``), like the PNG readers give. For training, :meth:`quantised` gives batches of
    uint8 images without the derived targets, and :meth:`finish` completes a batch once it
    is on the device.
    """

    def __init__(self, path: Path, split: str, tasks: Sequence[Task]):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if split not in self.manifest["splits"]:
            raise PackedError(
                f"packed dataset {self.path} has no {split} split "
                f"(only {', '.join(self.manifest['splits'])})"
            )
        self.split = split
        self.tasks = list(tasks)
        meta = self.manifest["splits"][split]
        self.count = int(meta["count"])
        self.arrays = {n: ArrayInfo.from_json(a) for n, a in meta["arrays"].items()}
        self._maps: dict[str, np.ndarray] | None = None
        self._ids: list[str] | None = None

    def __getstate__(self) -> dict[str, Any]:  # memory maps are reopened in each worker
        return {**self.__dict__, "_maps": None, "_ids": None}

    def __len__(self) -> int:
        return self.count

    def _map(self, name: str) -> np.ndarray:
        if self._maps is None:
            self._maps = {}
        arr = self._maps.get(name)
        if arr is None:
            arr = self._maps[name] = np.load(self.path / self.arrays[name].file, mmap_mode="r")
        return arr

    def sample_id(self, index: int) -> str:
        if self._ids is None:
            self._ids = json.loads((self.path / self.split / "ids.json").read_text())
        return self._ids[index]

    def _rows(self, name: str, index: int | np.ndarray) -> torch.Tensor:
        arr = self._map(name)
        if isinstance(index, np.ndarray):  # fancy indexing copies once, out of the map
            return torch.from_numpy(arr[index].view(np.ndarray))
        return torch.from_numpy(np.array(arr[index]))  # a view of the read-only map: copy

    def raw(self, index: int | np.ndarray) -> Batch:
        """Stored values: uint8 image, stored-dtype targets, bool masks; no derived tasks."""
        targets, masks = {}, {}
        for task in self.tasks:
            if task.target_is_input:
                continue
            targets[task.name] = self._rows(f"target.{task.name}", index)
            masks[task.name] = self._rows(f"mask.{task.name}", index)
        return {"image": self._rows("image", index), "targets": targets, "masks": masks}

    def finish(self, batch: Batch) -> Batch:
        """A raw batch (or sample) as the readers give it, computed where it lies."""
        image = batch["image"]
        if image.dtype == torch.uint8:
            image = image.float() / 255.0
        targets, masks = {}, {}
        for task in self.tasks:
            if task.target_is_input:
                targets[task.name] = task.target_from_input(image)
                masks[task.name] = torch.ones(
                    (*image.shape[:-3], 1, *image.shape[-2:]), dtype=torch.bool, device=image.device
                )
                continue
            load = _torch_dtype(self.arrays[f"target.{task.name}"].load_dtype)
            targets[task.name] = batch["targets"][task.name].to(load)
            masks[task.name] = batch["masks"][task.name]
        return {**batch, "image": image, "targets": targets, "masks": masks}

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return {**self.finish(self.raw(index)), "id": self.sample_id(index)}

    def quantised(self) -> QuantisedBatches:
        return QuantisedBatches(self)


class QuantisedBatches(Dataset):
    """A packed split indexed by a list of sample indices: one raw batch per list, read
    with one fancy index per array (for a DataLoader with a batch sampler, batch_size=None)."""

    def __init__(self, split: PackedSplit):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, indices: Sequence[int]) -> Batch:
        return self.split.raw(np.asarray(indices, dtype=np.int64))
