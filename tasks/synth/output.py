"""Writing synthetic datasets: atomic files, argument checks, split assignment, the loop.

Files are written under a temporary name and renamed (:mod:`mtsweep.atomic`), so an
interrupted run leaves whole files or none. Image i is made from
``default_rng([seed, stream, i])`` and its split follows from i alone, so image i is the
same file in the same place whatever the number of images requested.
"""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from mtsweep.atomic import replace_atomically
from mtsweep.errors import MtsweepError

log = logging.getLogger(__name__)

MIN_SIZE = 8
PNG_COMPRESSION = 3  # zlib level: files about 10% larger than the default, written 2x faster


class SynthError(MtsweepError):
    """Arguments that cannot describe a synthetic dataset (bad n, size or domain)."""


@dataclass(frozen=True)
class SynthReport:
    """What a writer produced: where, how many images and files, in how long."""

    out_dir: Path
    n_images: int
    n_files: int
    seconds: float
    dataset: str


@dataclass(frozen=True)
class SplitCycle:
    """The split of image i from its slot in a repeating cycle of ``length`` images.

    Slots listed in ``val``/``test`` go to those splits, the rest to training. Putting
    the first val and test slots early makes even a handful of images fill every split.
    """

    length: int
    val: tuple[int, ...]
    test: tuple[int, ...] = ()

    def split(self, index: int) -> str:
        slot = index % self.length
        return "val" if slot in self.val else "test" if slot in self.test else "train"

    def _slots(self, split: str) -> list[int]:
        return [s for s in range(self.length) if self.split(s) == split]

    def rank(self, index: int) -> int:
        """How many earlier images went to the same split."""
        slots = self._slots(self.split(index))
        slot = index % self.length
        return index // self.length * len(slots) + sum(s < slot for s in slots)

    def place(self, index: int, names: Mapping[str, tuple[str, ...]]) -> tuple[str, str]:
        """(split, name): the split's names (buildings, cities) take turns."""
        split = self.split(index)
        options = names[split]
        return split, options[self.rank(index) % len(options)]


def write_bytes(path: Path, data: bytes) -> None:
    replace_atomically(path, lambda tmp: tmp.write_bytes(data))


def write_png(path: Path, pixels: np.ndarray) -> None:
    """An 8-bit gray/RGB (uint8) or 16-bit gray (uint16) PNG, written atomically."""
    if pixels.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"PNG pixels must be uint8 or uint16, not {pixels.dtype}")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(
        buffer, format="PNG", compress_level=PNG_COMPRESSION
    )
    write_bytes(path, buffer.getvalue())


def write_json(path: Path, content: dict[str, Any]) -> None:
    write_bytes(path, (json.dumps(content, indent=1, sort_keys=True) + "\n").encode())


def image_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The generator of one image: independent of how many images are made."""
    return np.random.default_rng([seed, stream, index])


def _is_int(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_args(n: int, size: int, seed: int) -> None:
    """Raise SynthError for arguments no dataset can be made from."""
    if not _is_int(n) or n < 1:
        raise SynthError(f"number of images n={n!r} must be a positive integer")
    if not _is_int(size) or size < MIN_SIZE:
        raise SynthError(f"image size {size!r} must be an integer of at least {MIN_SIZE} pixels")
    if not _is_int(seed) or seed < 0:
        raise SynthError(f"seed {seed!r} must be a non-negative integer")


def write_all(dataset: str, out_dir: Path, n: int, write_one: Callable[[int], int]) -> SynthReport:
    """Call ``write_one(i)`` (returns files written) for every image, logging progress."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    files = 0
    step = max(1, -(-n // 10))  # about ten progress lines
    for i in range(n):
        files += write_one(i)
        if (i + 1) % step == 0 or i + 1 == n:
            log.info("synthetic %s: %d/%d images written to %s", dataset, i + 1, n, out_dir)
    seconds = time.perf_counter() - start
    return SynthReport(out_dir, n, files, seconds, dataset)
