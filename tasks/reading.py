"""What the dataset readers share: robust PNG reading, resizing, the sample dict.

Pillow's modes differ between versions (16-bit gray opens as ``I`` before 10.3 and as
``I;16`` since), so every PNG goes through :func:`read_png`, which returns one dtype per
kind of file whatever Pillow did: uint8 for 8-bit files, uint16 for 16-bit ones, bool for
1-bit masks. Decoders in :mod:`tasks.labels` then check the bit depth they expect.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lazy_loader
import numpy as np
from PIL import Image

from tasks.conventions import DEFAULT_CONVENTION
from tasks.errors import DataError, LabelError
from tasks.labels import Decoded, decode_rgb
from tasks.task import Task

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

_UINT8_MODES = {"L", "P", "LA", "PA", "RGB", "RGBA"}
_UINT16_MODES = {"I;16", "I;16B", "I;16L", "I;16N"}
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


def read_png(path: Path) -> np.ndarray:
    """The pixels of a PNG as a writable HxW or HxWxC array (uint8, uint16 or bool)."""
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise DataError(
                    f"{path} is a {img.format} file, not a PNG; regenerate or re-download it as PNG"
                )
            img.load()
            return _pixels(img, path)
    except DataError:
        raise
    except FileNotFoundError:
        raise DataError(f"missing file {path}; regenerate or re-download the dataset") from None
    except _UNREADABLE as err:
        raise DataError(
            f"cannot read {path} as a PNG ({err}); the file is corrupt or "
            "truncated: regenerate or re-download it"
        ) from err


def _pixels(img: Image.Image, path: Path) -> np.ndarray:
    raw = np.asarray(img)
    if img.mode == "1":
        return np.array(raw, dtype=bool)
    if img.mode in _UINT8_MODES:
        return np.array(raw, dtype=np.uint8)
    if img.mode in _UINT16_MODES:
        return np.array(raw, dtype=np.uint16)  # also turns big-endian I;16B native
    if img.mode == "I":  # Pillow < 10.3 opens 16-bit gray PNGs as int32
        if raw.size and (raw.min() < 0 or raw.max() > np.iinfo(np.uint16).max):
            raise DataError(
                f"{path} holds values outside 0..65535; expected an 8- or 16-bit PNG: regenerate it"
            )
        return np.array(raw, dtype=np.uint16)
    raise DataError(
        f"{path} has unsupported PNG mode {img.mode!r}; expected 1-, 8- or 16-bit "
        "gray or 8-bit RGB(A): regenerate it"
    )


def read_label(path: Path, decode: Callable[[np.ndarray], Decoded], domain: str) -> Decoded:
    """Read and decode one label file; every failure is a DataError naming the file."""
    if not path.is_file():
        raise DataError(
            f"missing label file {path}: the dataset lacks domain {domain} for "
            "this view; regenerate the data or drop the task"
        )
    arr = read_png(path)
    try:
        return decode(arr)
    except LabelError as err:
        raise DataError(
            f"label file {path} cannot be decoded as {domain}: {err}; "
            "regenerate the file or drop the task"
        ) from err


def needs_resize(t: torch.Tensor, size: tuple[int, int]) -> bool:
    """Whether a (C,H,W) tensor must be resized to reach ``size`` = (H, W)."""
    return tuple(t.shape[-2:]) != tuple(size)


def resize_nearest(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of a (C,H,W) class map or mask, keeping its dtype.

    ``nearest-exact`` samples the source pixel whose centre is closest, so only values
    present in the input can appear in the output.
    """
    if not needs_resize(t, size):
        return t
    out = torch.nn.functional.interpolate(t.unsqueeze(0).float(), size=size, mode="nearest-exact")[
        0
    ]
    return out.to(t.dtype) if t.dtype != torch.bool else out > 0.5


def resize_bilinear(t: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of a float (C,H,W) image or continuous label.

    Antialiasing is on so that shrinking averages the covered pixels, as Pillow's resize
    (which the reference loaders used) does, instead of sampling a few of them.
    """
    if not needs_resize(t, size):
        return t
    return torch.nn.functional.interpolate(
        t.unsqueeze(0), size=size, mode="bilinear", align_corners=False, antialias=True
    )[0]


def resize_masked(
    t: torch.Tensor, mask: torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bilinear resize of a continuous label using only its valid pixels.

    Invalid pixels hold sentinel values (Taskonomy depth 65535 → 64 after Standley's
    decoding, Cityscapes disparity 0) that plain bilinear resizing would blend into valid neighbours at object
    edges. Here the label is averaged with the mask as weights (normalised convolution),
    and the new mask is the nearest-resized old one wherever some valid pixel contributed.
    """
    if not needs_resize(t, size):
        return t, mask
    if bool(mask.all()):
        return resize_bilinear(t, size), torch.ones((1, *size), dtype=torch.bool)
    weight = resize_bilinear(mask.to(t.dtype), size)
    summed = resize_bilinear(t * mask.to(t.dtype), size)
    has_support = weight > 1e-6
    out = torch.where(has_support, summed / weight.clamp_min(1e-6), torch.zeros_like(summed))
    return out, resize_nearest(mask, size) & has_support


def read_image(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """An 8-bit RGB file as a float32 (3,H,W) tensor in [0, 1] at ``size``."""
    image = read_label(path, decode_rgb, "rgb").target
    return resize_bilinear(image, size).clamp_(0.0, 1.0)


def fit_label(
    decoded: Decoded,
    size: tuple[int, int],
    is_class: bool,
    extra_mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """A label decoded at file resolution, and its bool (1,H,W) mask, resized to ``size``.

    ``extra_mask`` (e.g. Taskonomy's depth validity, possibly at another resolution) is
    ANDed with the label's own mask before resizing, so that invalid pixels never feed
    the interpolation. Class maps and masks resize by nearest neighbour.
    """
    target = decoded.target
    mask = decoded.mask
    if mask is None:
        mask = torch.ones((1, *target.shape[-2:]), dtype=torch.bool)
    if extra_mask is not None:
        mask = mask & resize_nearest(extra_mask, tuple(target.shape[-2:]))
    if is_class:
        return resize_nearest(target, size), resize_nearest(mask, size)
    return resize_masked(target, mask, size)


class SampleReader:
    """What the dataset readers share: the sample dict, and keeping samples after first load.

    A map-style dataset (``__len__``, ``__getitem__``), which torch's ``DataLoader`` takes as
    is; it subclasses no torch class, so the task tables beside the readers load without torch.

    A sample is ``{"image": float32 (3,H,W) in [0,1], "targets": {task: tensor},
    "masks": {task: bool (1,H,W)}, "id": str}``. With ``cache``, decoded and resized
    samples are kept, so a trial that reads a few hundred small images for many epochs
    decodes each file once; cached samples are shared, not copied: do not modify them.

    The tasks' target convention (:mod:`tasks.conventions`) decides how labels are scaled;
    all tasks of one reader must share it, since they share the depth-validity mask.
    """

    def __init__(self, tasks: Sequence[Task], dataset: str, size: tuple[int, int], cache: bool):
        for task in tasks:
            if task.dataset != dataset:
                raise DataError(f"task {task.name} is a {task.dataset} task, not a {dataset} one")
        conventions = sorted({t.convention for t in tasks})
        if len(conventions) > 1:
            raise DataError(
                f"tasks of target conventions {', '.join(conventions)} in one reader; "
                "look them all up with the same convention"
            )
        self.convention = conventions[0] if conventions else DEFAULT_CONVENTION
        self.tasks = list(tasks)
        self.size = size
        self._cache: dict[int, dict[str, Any]] | None = {} if cache else None

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> dict[str, Any]:
        if self._cache is None:
            return self._load(index)
        sample = self._cache.get(index)
        if sample is None:
            sample = self._cache[index] = self._load(index)
        return sample

    def _load(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def _sample(
        self,
        sample_id: str,
        image: torch.Tensor,
        label: Callable[[Task], tuple[torch.Tensor, torch.Tensor]],
    ) -> dict[str, Any]:
        """Assemble a sample; ``label`` gives a task's resized target and mask."""
        targets, masks = {}, {}
        for task in self.tasks:
            if task.target_from_input is not None:
                targets[task.name] = task.target_from_input(image)
                masks[task.name] = torch.ones((1, *self.size), dtype=torch.bool)
            else:
                targets[task.name], masks[task.name] = label(task)
        return {"image": image, "targets": targets, "masks": masks, "id": sample_id}
