"""Synthetic data generation speed: images per second, files included, per dataset and size.

Run as ``.venv/bin/python bench/bench_synth.py``; prints one JSON object and appends a
dated row under "Synthetic data generation" in BENCHMARKS.md (``--tiny``: a few small
images, as the test suite runs it).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tasks.datasets import dataset_names, get_dataset

from record import command, record

# (size, images): enough images for a stable rate, few enough to stay well under a minute.
RUNS = ((64, 24), (256, 6))
TINY_RUNS = ((16, 2),)


def main(tiny: bool = False) -> None:
    numbers: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in dataset_names():
            writer = get_dataset(name).write_synthetic
            for size, n in TINY_RUNS if tiny else RUNS:
                writer(Path(tmp) / f"warm-{name}-{size}", n=1, size=size, seed=99)
                report = writer(Path(tmp) / f"{name}-{size}", n=n, size=size, seed=0)
                numbers[f"{name}_{size}px_images_per_s"] = round(n / report.seconds, 2)
                numbers[f"{name}_{size}px_files_per_image"] = report.n_files // n
    record(
        "Synthetic data generation",
        command(),
        numbers,
        note="all domains written as PNG/JSON; Cityscapes frames are size × 2·size",
    )


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv[1:])
