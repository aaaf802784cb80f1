"""Writing a packed dataset (:mod:`tasks.packed`): decode each chunk of samples once.

``pack`` is resumable: the chunks written so far are kept in ``progress.json``
(:class:`ChunkLog`), and a killed prepare continues where it stopped. Chunks run in this
process or on forked local processes here; ``orchestrator.sweep`` adds a Ray runner.
"""

from __future__ import annotations

import hashlib
import json
import logging
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

from mtsweep.atomic import replace_atomically
from tasks.batches import Batch
from tasks.fingerprint import fingerprint
from tasks.packed.manifest import (
    FORMAT,
    MANIFEST,
    PROGRESS,
    TARGET_DTYPES,
    VERSION,
    ArrayInfo,
    PackedError,
    convention_of,
    describe,
    read_manifest,
)
from tasks.task import Task

log = logging.getLogger(__name__)

LOG_EVERY_S = 5.0  # between progress lines


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


@dataclass(frozen=True)
class DecodedChunk:
    """One chunk's samples as stored arrays (array name → rows) and their sample ids: what
    a worker that cannot reach the packed directory sends back to be written."""

    chunk: Chunk
    rows: dict[str, np.ndarray]
    ids: list[str]


def decode_chunk(chunk: Chunk, reader: Dataset, arrays: Mapping[str, ArrayInfo]) -> DecodedChunk:
    """Decode one chunk with ``reader`` into stored arrays (run by any worker)."""
    torch.set_num_threads(1)
    n = chunk.stop - chunk.start
    rows = {name: np.empty((n, *info.shape), np.dtype(info.dtype)) for name, info in arrays.items()}
    ids = []
    for row, i in enumerate(range(chunk.start, chunk.stop)):
        sample = reader[i]
        ids.append(str(sample.get("id", i)))
        for name, info in arrays.items():
            kind, _, task = name.partition(".")
            value = sample["image"] if kind == "image" else sample[f"{kind}s"][task]
            rows[name][row] = _stored(name, info, value)
    return DecodedChunk(chunk, rows, ids)


def store_chunk(out: Path, arrays: Mapping[str, ArrayInfo], decoded: DecodedChunk) -> Chunk:
    """Write a decoded chunk into the split's memory maps and its ids file."""
    chunk = decoded.chunk
    for name, info in arrays.items():
        target = np.load(out / info.file, mmap_mode="r+")
        target[chunk.start : chunk.stop] = decoded.rows[name]
        target.flush()
    ids_file = out / chunk.split / "ids" / f"{chunk.index}.json"
    replace_atomically(ids_file, lambda tmp: tmp.write_text(json.dumps(decoded.ids)))
    return chunk


def write_chunk(
    out: Path, chunk: Chunk, reader: Dataset, arrays: Mapping[str, ArrayInfo]
) -> tuple[Chunk, float]:
    """Decode one chunk and write it into ``out`` (run by a worker that sees ``out``)."""
    t0 = time.perf_counter()
    store_chunk(out, arrays, decode_chunk(chunk, reader, arrays))
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


class ChunkLog:
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
    published: tuple[str, Mapping[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """Decode every sample of ``readers`` (split → reader) into ``out``; returns the manifest.

    ``size`` is the reader's size argument; ``selection`` records reader options that pick
    the samples (Taskonomy's ``split_set``). Resumable: chunks already listed in
    ``progress.json`` for the same request are skipped.
    The manifest is written last, by rename, so a dataset with a manifest is complete; it
    lists every file with its size and SHA-256, so a copy can be verified.
    ``published`` is (where, manifest or None) of the final destination when ``out`` only
    stages a dataset for it (``mtsweep prepare --to s3://…``): the dataset already published
    there is not packed again, another is refused; a staged dataset of another request is
    packed afresh.
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
    where, manifest = published or (str(out), read_manifest(out) if existing.exists() else None)
    if manifest is not None:
        if _same_request(manifest, request):
            log.info("%s already holds this packed dataset; nothing to do", where)
            return dict(manifest)
        raise PackedError(
            f"{where} already holds another packed dataset ({describe(manifest)}); "
            "choose another --to or remove it"
        )
    if existing.exists():  # staged, never published: this request's is done, another's redone
        staged = read_manifest(out)
        if _same_request(staged, request):
            return staged
        existing.unlink()
    out.mkdir(parents=True, exist_ok=True)
    progress = ChunkLog(out, request)
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
    manifest["files"] = _file_digests(out, [f for a in layouts.values() for f in _files(a)])
    replace_atomically(existing, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1)))
    (out / PROGRESS).unlink(missing_ok=True)
    return manifest


def _files(arrays: Mapping[str, ArrayInfo]) -> list[str]:
    split = next(iter(arrays.values())).file.split("/")[0]
    return [f"{split}/ids.json", *(info.file for info in arrays.values())]


def _file_digests(root: Path, files: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``{file: {"bytes", "sha256"}}`` of files under ``root`` (what a copy is checked by)."""
    return {f: {"bytes": (root / f).stat().st_size, "sha256": _sha256_of(root / f)} for f in files}


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            digest.update(block)
    return digest.hexdigest()


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
