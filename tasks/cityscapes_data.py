"""Cityscapes: its task table (``CITYSCAPES_TASKS``), and its reader of the files as
distributed: images, fine labels and disparity.

``depth`` is the paper's quantity, the raw disparity code / 1000 (see
:func:`tasks.labels.decode_disparity`); it is decoded at file resolution and only then
resized, with the measured-disparity mask as interpolation weights, so unmeasured pixels
(code 0) never pull their neighbours towards 0.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path
from typing import Any

import lazy_loader

from tasks.dataset_kind import DatasetKind, register_dataset
from tasks.errors import DataError
from tasks.formats import cityscapes as cs
from tasks.formats.cityscapes import IMAGE_FILE_SUFFIX, IMAGES, file_path, frame_of
from tasks.labels import CITYSCAPES_IGNORE, decode_cityscapes_labels, decode_disparity
from tasks.losses import l1_loss, make_ce_loss
from tasks.reading import SampleReader, fit_label, read_image, read_label
from tasks.synth import write_cityscapes
from tasks.task import REG_DIRECTION, SEG_DIRECTION, Task, identity, reg_meter, seg_meter

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")
log = logging.getLogger(__name__)

# fyu/drn's datasets/cityscapes/info.json: the statistics of Cityscapes' images in [0, 1] RGB
# that the DRN models (and MTRobust's Cityscapes loader) standardise their inputs with.
CITYSCAPES_MEAN = (0.29010095242892997, 0.32808144844279574, 0.28696394422942517)
CITYSCAPES_STD = (0.1829540508368939, 0.18656561047509476, 0.18447508988480435)

CITYSCAPES_TASKS: tuple[Task, ...] = (
    Task(
        name="segment_semantic",
        letter="s",
        dataset="cityscapes",
        channels=19,
        kind="segmentation",
        loss=make_ce_loss(CITYSCAPES_IGNORE),
        make_meter=seg_meter(19, CITYSCAPES_IGNORE),
        primary_metric="miou",
        higher_is_better=SEG_DIRECTION,
        decode=decode_cityscapes_labels,
        domain=cs.LABELS,
        file_domain=cs.LABEL_SUFFIX,
        ignore_index=CITYSCAPES_IGNORE,
        units="training ids",
        description="19 Cityscapes training classes (labelIds mapped, the rest 255 = ignored)",
    ),
    Task(
        name="depth",
        letter="d",
        dataset="cityscapes",
        channels=1,
        kind="regression",
        loss=l1_loss,
        make_meter=reg_meter(abs="abs_err", rel="rel_err", rmse="rmse"),
        primary_metric="abs_err",
        higher_is_better={"abs_err": False, "rel_err": False, "rmse": False},
        decode=decode_disparity,
        domain=cs.DISPARITY,
        file_domain=cs.DISPARITY,
        units="raw disparity code / 1000 (1 unit ≈ 3.9 px of disparity), as MTRobust",
        description="the paper's Cityscapes depth: scaled disparity, 0 (unmeasured) masked",
    ),
    Task(
        name="autoencoder",
        letter="A",
        dataset="cityscapes",
        channels=3,
        kind="regression",
        loss=l1_loss,
        make_meter=reg_meter(abs="l1", rmse="rmse"),
        primary_metric="l1",
        higher_is_better=REG_DIRECTION,
        decode=None,
        domain=cs.IMAGES,
        file_domain=cs.IMAGES,
        target_from_input=identity,
        units="RGB in [0, 1]",
        description="reconstruction of the input image",
    ),
)


def frame_size(size: tuple[int, int] | int) -> tuple[int, int]:
    """(H, W) from the (W, H) the paper quotes (680×340), or from a height alone (W = 2H)."""
    if isinstance(size, Integral):
        return int(size), 2 * int(size)
    width, height = size
    return int(height), int(width)


class CityscapesDataset(SampleReader):
    """Cityscapes frames as samples (see :class:`tasks.reading.SampleReader`).

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
                f"{{root}}/{IMAGES}/{split}/{{city}}/*{IMAGE_FILE_SUFFIX}"
            )
        for domain in sorted({t.folder for t in self.tasks if not t.target_is_input}):
            folder = self.root / domain / split
            if not folder.is_dir():
                raise DataError(
                    f"missing folder {folder}: the dataset lacks it for split {split}; "
                    "restore it or drop the task that needs it"
                )
        self.frames = sorted(
            (city.name, frame_of(path))
            for city in images.iterdir()
            if city.is_dir()
            for path in city.iterdir()
            if path.name.endswith(IMAGE_FILE_SUFFIX)
        )
        log.debug("Cityscapes %s: %d frames", split, len(self.frames))

    def __len__(self) -> int:
        return len(self.frames)

    def _load(self, index: int) -> dict[str, Any]:
        city, frame = self.frames[index]
        path = file_path(self.root, IMAGES, self.split, city, frame, f"{IMAGES}.png")
        image = read_image(path, self.size)

        def label(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
            file = file_path(
                self.root, task.folder, self.split, city, frame, f"{task.file_suffix}.png"
            )
            decoded = read_label(file, task.decode, task.folder)
            return fit_label(decoded, self.size, task.label_is_class)

        return self._sample(f"{city}/{frame}", image, label)


# The paper's 680×340 frames (image_size is the height).
register_dataset(
    DatasetKind(
        "cityscapes",
        CityscapesDataset,
        write_cityscapes,
        image_size=340,
        order=1,
        rgb_std=CITYSCAPES_STD,
        split_sizes={
            "train": (2975, "Cityscapes fine: 2975 train (Cordts et al. 2016)"),
            "val": (500, "Cityscapes fine: 500 val (Cordts et al. 2016)"),
            "test": (1525, "Cityscapes fine: 1525 test (Cordts et al. 2016)"),
        },
    ),
    tasks=CITYSCAPES_TASKS,
)
