"""Reader of Cityscapes as distributed: images, fine labels, disparity and camera files.

Depth is computed from disparity at file resolution (depth = baseline·fx / disparity, with
the camera of that very image) and only then resized, with the valid-disparity mask as
interpolation weights: invalid pixels are 0 m and must not pull valid depths towards 0.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from functools import partial
from numbers import Integral
from pathlib import Path
from typing import Any

import torch

from tasks.errors import DataError
from tasks.images import SampleReader, fit_label, read_image, read_label
from tasks.registry import Decoded, Task, disparity_to_depth

log = logging.getLogger(__name__)

IMAGES = "leftImg8bit"
CAMERA = "camera"
DISPARITY = "disparity"
_IMAGE_SUFFIX = f"_{IMAGES}.png"


def frame_size(size: tuple[int, int] | int) -> tuple[int, int]:
    """(H, W) from the (W, H) the paper quotes (680×340), or from a height alone (W = 2H)."""
    if isinstance(size, Integral):
        return int(size), 2 * int(size)
    width, height = size
    return int(height), int(width)


def read_camera(path: Path) -> tuple[float, float]:
    """The stereo baseline (m) and focal length fx (px) from a Cityscapes camera file."""
    if not path.is_file():
        raise DataError(
            f"missing camera file {path}: depth needs each image's camera; "
            "restore the camera/ folder or drop the depth task"
        )
    try:
        camera = json.loads(path.read_text())
        baseline = float(camera["extrinsic"]["baseline"])
        fx = float(camera["intrinsic"]["fx"])
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"camera file {path} is not valid JSON ({err}); restore it") from err
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(
            f"camera file {path} lacks a numeric extrinsic.baseline or "
            f"intrinsic.fx ({err!r}); restore it"
        ) from err
    if not (math.isfinite(baseline) and math.isfinite(fx) and baseline > 0 and fx > 0):
        raise DataError(
            f"camera file {path} has baseline {baseline} and fx {fx}; both must "
            "be positive: restore it"
        )
    return baseline, fx


class CityscapesDataset(SampleReader):
    """Cityscapes frames as samples (see :class:`tasks.images.SampleReader`).

    ``size`` is (W, H) or a height (W = 2H). ``id`` is ``city/{city}_{seq}_{frame}``.
    """

    def __init__(
        self,
        root: Path,
        tasks: Sequence[Task],
        split: str = "train",
        size: tuple[int, int] | int = (680, 340),
        cache: bool = True,
    ):
        super().__init__(tasks, "cityscapes", frame_size(size), cache)
        self.root = Path(root)
        self.split = split
        images = self.root / IMAGES / split
        if not images.is_dir():
            raise DataError(
                f"no Cityscapes image folder {images}; expected "
                f"{{root}}/{IMAGES}/{split}/{{city}}/*{_IMAGE_SUFFIX}"
            )
        for folder in self._folders():
            if not folder.is_dir():
                raise DataError(
                    f"missing folder {folder}: the dataset lacks it for split {split}; "
                    "restore it or drop the task that needs it"
                )
        self.frames = sorted(
            (city.name, path.name[: -len(_IMAGE_SUFFIX)])
            for city in images.iterdir()
            if city.is_dir()
            for path in city.iterdir()
            if path.name.endswith(_IMAGE_SUFFIX)
        )
        log.debug("Cityscapes %s: %d frames", split, len(self.frames))

    def _folders(self) -> list[Path]:
        domains = {t.folder for t in self.tasks if t.folder != IMAGES}
        if DISPARITY in domains:  # depth from disparity needs each frame's camera
            domains.add(CAMERA)
        return [self.root / d / self.split for d in sorted(domains)]

    def _file(self, domain: str, city: str, frame: str, suffix: str) -> Path:
        return self.root / domain / self.split / city / f"{frame}_{suffix}"

    def __len__(self) -> int:
        return len(self.frames)

    def _load(self, index: int) -> dict[str, Any]:
        city, frame = self.frames[index]
        image = read_image(self._file(IMAGES, city, frame, f"{IMAGES}.png"), self.size)

        def label(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
            return fit_label(self._read(task, city, frame), self.size, task.label_is_class)

        return self._sample(f"{city}/{frame}", image, label)

    def _read(self, task: Task, city: str, frame: str) -> Decoded:
        decode = task.decode
        if task.folder == DISPARITY:
            camera = read_camera(self._file(CAMERA, city, frame, f"{CAMERA}.json"))
            decode = partial(disparity_to_depth, baseline=camera[0], fx=camera[1])
        path = self._file(task.folder, city, frame, f"{task.file_suffix}.png")
        return read_label(path, decode, task.folder)
