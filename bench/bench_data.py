"""Data throughput: the PNG reader against the packed, memory-mapped dataset.

256-px Taskonomy samples of two tasks (depth_zbuffer, normal) decoded from 512-px files
made by the synthetic writer, one process, one torch thread ("per core"). Reports the
samples per second of the PNG reader and of packed batches as the training loader reads
them (uint8, converted on the device), their largest difference, the packed bytes per
sample, and the loader with one worker against the smoke model's training rate.

Run as ``.venv/bin/python bench/bench_data.py``; its last line is JSON, and a dated row is
appended under "Data throughput" in BENCHMARKS.md (``--tiny``: a few 32-px files read at
16 px, each rate timed once, as the test suite runs it).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from orchestrator.sweep.plan import Request, make_plan
from orchestrator.trial.timing import time_steps
from orchestrator.trial.training import train_loader
from sweeps.presets import TrainConfig
from tasks.datasets import get_dataset
from tasks.packed import PackedSplit, pack
from tasks.registry import parse_tasks

from record import command, record

TASKS = parse_tasks("taskonomy", "dn")


@dataclass(frozen=True)
class Setting:
    files: int  # side of the files written
    size: int  # side trials read them at
    n: int  # views written
    batch: int  # below the training views, so the loader yields full batches
    min_seconds: float  # each packed rate is timed over at least this long (once at least)


FULL = Setting(files=512, size=256, n=40, batch=16, min_seconds=1.5)
TINY = Setting(files=32, size=16, n=12, batch=2, min_seconds=0.0)


def rate(fn, n: int, min_seconds: float) -> float:
    """Samples per second of ``fn`` (which handles ``n`` samples), over ≥ ``min_seconds``."""
    fn()  # warm: page cache, allocator
    t0, done = time.perf_counter(), 0
    while done == 0 or time.perf_counter() - t0 < min_seconds:
        fn()
        done += n
    return done / (time.perf_counter() - t0)


def largest_difference(png: list, split: PackedSplit) -> float:
    """The largest absolute difference of images and targets, packed against the PNG reader
    (masks must be equal)."""
    diff = 0.0
    for i, a in enumerate(png):
        b = split[i]
        diff = max(diff, float((a["image"] - b["image"]).abs().max()))
        for name in a["targets"]:
            diff = max(diff, float((a["targets"][name] - b["targets"][name]).abs().max()))
            assert torch.equal(a["masks"][name], b["masks"][name])
    return diff


def batched_rate(split: PackedSplit, order: list[list[int]], n: int, min_seconds: float) -> float:
    """Samples per second of the training loader's read: uint8 batches from the memory map."""
    batches = split.quantised()
    return rate(lambda: [batches[b] for b in order], n, min_seconds)


def main(tiny: bool = False) -> None:
    at = TINY if tiny else FULL
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        source, out = Path(tmp) / "src", Path(tmp) / "packed"
        get_dataset("taskonomy").write_synthetic(source, n=at.n, size=at.files, seed=0)
        reader = get_dataset("taskonomy").reader(
            source, TASKS, split="train", size=at.size, cache=False
        )
        n = len(reader)
        t0 = time.perf_counter()
        png = [reader[i] for i in range(n)]
        png_rate = n / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        pack(out, {"train": reader}, dataset="taskonomy", tasks=TASKS, size=at.size, source=source)
        pack_rate = n / (time.perf_counter() - t0)
        split = PackedSplit(out, "train", TASKS)
        diff = largest_difference(png, split)
        order = [list(range(s, min(s + at.batch, n))) for s in range(0, n, at.batch)]
        packed_rate = batched_rate(split, order, n, at.min_seconds)
        float_rate = rate(lambda: [split[i] for i in range(n)], n, at.min_seconds)
        # The same data with float16 targets (`prepare --target-dtype float16`), side by side.
        half_out = Path(tmp) / "packed-f16"
        pack(
            half_out,
            {"train": reader},
            dataset="taskonomy",
            tasks=TASKS,
            size=at.size,
            source=source,
            target_dtype="float16",
        )
        half = PackedSplit(half_out, "train", TASKS)
        half_diff = largest_difference(png, half)
        half_rate = batched_rate(half, order, n, at.min_seconds)

        cfg = TrainConfig(batch_size=at.batch)
        loader = train_loader(split, cfg, seed=0, workers=1)
        worker_rate = rate(
            lambda: [b for b in loader.epoch(0)], len(loader.batches) * at.batch, at.min_seconds
        )
        stored = sum(f.stat().st_size for f in (out / "train").glob("*.npy"))
        half_stored = sum(f.stat().st_size for f in (half_out / "train").glob("*.npy"))

    smoke = make_plan(Request(sweep="taskonomy-pairs", preset="smoke", tasks=("d",)))
    spec = smoke.specs[0]
    step = time_steps(spec, torch.device("cpu"), steps=1 if tiny else 3)
    numbers = {
        "png_samples_per_s": round(png_rate, 1),
        "packed_samples_per_s": round(packed_rate, 1),
        "packed_speedup": round(packed_rate / png_rate, 1),
        "packed_float_samples_per_s": round(float_rate, 1),
        "pack_samples_per_s": round(pack_rate, 1),
        "max_abs_diff": round(diff, 6),
        "packed_bytes_per_sample": stored // n,
        "packed_f16_samples_per_s": round(half_rate, 1),
        "packed_f16_speedup": round(half_rate / png_rate, 1),
        "max_abs_diff_f16": round(half_diff, 6),
        "packed_f16_bytes_per_sample": half_stored // n,
        "loader_1_worker_samples_per_s": round(worker_rate, 1),
        "smoke_model_samples_per_s": round(spec.config.train.batch_size / step.train, 1),
        "samples": n,
    }
    record(
        "Data throughput",
        command(),
        numbers,
        note=f"{at.size}-px Taskonomy samples (depth_zbuffer, normal) from {at.files}-px synthetic "
        "files, 1 torch thread; packed = uint8 batches of 16 from the memory map (float "
        "conversion happens on the device); float = one float sample at a time; loader = "
        "train_loader with 1 worker; f16 = the same with float16 targets; smoke model = taskonomy-pairs smoke, 1 task, 32 px, "
        "batch 16, 1 thread",
    )
    print(json.dumps(numbers, sort_keys=True))


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv[1:])
