"""Reader of Taskonomy as it lies on disk, in any of the usual layouts.

The layouts (:data:`tasks.formats.taskonomy.LAYOUTS`) differ only in where a
(building, domain) folder is; file names are always ``point_{P}_view_{V}_domain_{domain}.png``.
Labels are decoded at file resolution under the tasks' target convention and then resized,
so a dataset stored at 512 px and one at 256 px give the same targets at a trial's size.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tasks.conventions import get_convention
from tasks.datasets import DatasetKind, register_dataset
from tasks.errors import DataError
from tasks.formats.taskonomy import (
    LAYOUTS,
    MASK,
    OMNIDATA_COMPONENT,
    RGB,
    RGB_FILE,
    Layout,
    ViewKey,
    buildings,
)
from tasks.labels import Decoded
from tasks.reading import SampleReader, fit_label, read_image, read_label, read_png
from tasks.registry import TASKONOMY_TASKS, Task, get_task

if TYPE_CHECKING:
    from tasks.synth import SynthReport

log = logging.getLogger(__name__)

_LAYOUT_LIST = "; ".join(LAYOUTS.values())


def _subfolders(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir() if p.is_dir())


def find_buildings(root: Path) -> tuple[Layout, list[str]]:
    """The layout of ``root`` and the buildings that have an rgb folder there."""
    rgb = root / RGB
    if rgb.is_dir():
        if any(RGB_FILE.fullmatch(name) for name in os.listdir(rgb)):
            return Layout(root, "flat"), [root.name]
        component = rgb / OMNIDATA_COMPONENT
        if component.is_dir() and not any(RGB_FILE.fullmatch(n) for n in os.listdir(component)):
            return Layout(root, "omnidata"), _subfolders(component)
        return Layout(root, "domain_first"), _subfolders(rgb)
    if root.is_dir():
        found = sorted(p.name for p in root.iterdir() if (p / RGB).is_dir())
        if found:
            return Layout(root, "building_first"), found
    raise DataError(
        f"no Taskonomy rgb folder under {root}; expected one of the layouts {_LAYOUT_LIST}"
    )


def list_views(layout: Layout, building: str) -> list[ViewKey]:
    """The views of one building, in (point, view) order."""
    views = []
    for name in os.listdir(layout.folder(building, RGB)):
        match = RGB_FILE.fullmatch(name)
        if match:
            views.append(ViewKey(building, int(match[1]), int(match[2])))
    return sorted(views, key=lambda v: (v.point, v.view))


def select_buildings(
    present: list[str], split: str | None, chosen: Sequence[str] | None, split_set: str
) -> list[str]:
    """The buildings to read: ``chosen``, else those of the split present, else all."""
    if chosen is not None:
        missing = sorted(set(chosen) - set(present))
        if missing:
            raise DataError(
                f"buildings {', '.join(missing)} not found; present: {', '.join(present)}"
            )
        return sorted(set(chosen))
    if split is None:
        return present
    wanted = set(buildings(split, split_set))
    selected = [b for b in present if b in wanted]
    if not selected:
        log.warning(
            "no building of the %s %s split among the %d present (%s)",
            split_set,
            split,
            len(present),
            ", ".join(present[:5]),
        )
    return selected


class TaskonomyDataset(SampleReader):
    """Taskonomy views as samples (see :class:`tasks.reading.SampleReader`).

    ``split`` (train/val/test) picks the present buildings of that part of the official
    ``split_set`` (None: all present); ``buildings`` names them instead. ``id`` is
    ``building/point_P_view_V``.
    """

    def __init__(
        self,
        root: Path,
        tasks: Sequence[Task],
        split: str | None = "train",
        size: int = 256,
        buildings: Sequence[str] | None = None,
        cache: bool = True,
        split_set: str = "tiny",
    ):
        super().__init__(tasks, "taskonomy", (int(size), int(size)), cache)
        self.root = Path(root)
        self._depth_masked = any(t.uses_depth_mask for t in self.tasks)
        # the depth domain whose validity masks the depth-masked tasks (per convention)
        self._mask_depth = get_convention(self.convention).depth_mask_domain
        self._depth_decode = get_task("taskonomy", self._mask_depth, self.convention).decode
        self.layout, present = find_buildings(self.root)
        self.buildings = select_buildings(present, split, buildings, split_set)
        for building in self.buildings:
            self._check_domains(building)
        self.views = [v for b in self.buildings for v in list_views(self.layout, b)]
        if self.buildings and not self.views:
            raise DataError(
                f"no point_P_view_V_domain_rgb.png files under {self.root} for buildings "
                f"{', '.join(self.buildings)}; expected one of the layouts {_LAYOUT_LIST}"
            )
        log.debug(
            "Taskonomy %s: %d views of %d buildings (%s layout)",
            split,
            len(self.views),
            len(self.buildings),
            self.layout.kind,
        )

    def _check_domains(self, building: str) -> None:
        for domain in sorted({t.folder for t in self.tasks if not t.target_is_input}):
            folder = self.layout.folder(building, domain)
            if not folder.is_dir():
                raise DataError(
                    f"missing domain folder {folder}: the dataset lacks domain {domain} for "
                    f"building {building}; regenerate it or drop the task"
                )
        if self._depth_masked:
            depth = self.layout.folder(building, self._mask_depth)
            if not depth.is_dir() and not self.layout.folder(building, MASK).is_dir():
                raise DataError(
                    f"missing domain folder {depth}: tasks masked by valid depth need a "
                    f"{MASK} or {self._mask_depth} folder for building {building}; regenerate the data "
                    "or drop those tasks"
                )

    def __len__(self) -> int:
        return len(self.views)

    def _load(self, index: int) -> dict[str, Any]:
        view = self.views[index]
        image = read_image(view.file(self.layout, RGB, RGB), self.size)
        validity = self._validity(view) if self._depth_masked else None

        def label(task: Task) -> tuple[torch.Tensor, torch.Tensor]:
            extra = validity if task.uses_depth_mask else None
            return fit_label(self._read(view, task), self.size, task.label_is_class, extra)

        return self._sample(f"{view.building}/{view.stem}", image, label)

    def _read(self, view: ViewKey, task: Task) -> Decoded:
        # The release names segment_semantic files ..._domain_segmentsemantic.png; some
        # copies use the folder name instead, so both spellings are accepted.
        suffixes = dict.fromkeys((task.file_suffix, task.folder))
        paths = [view.file(self.layout, task.folder, s) for s in suffixes]
        path = next((p for p in paths if p.is_file()), paths[0])
        return read_label(path, task.decode, task.folder)

    def _validity(self, view: ViewKey) -> torch.Tensor:
        """Valid-depth pixels of a view: its ``mask`` file if any, else the convention's
        depth validity: depth_zbuffer below 16 m (standley), depth_euclidean below 64500
        (taskonomy, as MTRobust)."""
        mask_file = view.file(self.layout, MASK, MASK)
        if mask_file.is_file():
            arr = read_png(mask_file)
            return torch.from_numpy((arr if arr.ndim == 2 else arr[..., 0]) != 0).unsqueeze(0)
        depth = self._mask_depth
        return read_label(view.file(self.layout, depth, depth), self._depth_decode, depth).mask


def write_synthetic(out_dir: Path, **kwargs: Any) -> SynthReport:
    """A synthetic Taskonomy in the real on-disk format (:func:`tasks.synth.write_taskonomy`)."""
    from tasks.synth import write_taskonomy  # on use: importing tasks.synth reads the task tables

    return write_taskonomy(out_dir, **kwargs)


# The official "tiny" split set (the paper's), estimated: ≈25 train, 5 val, 5 test buildings
# of ~9.4k views (one building, Cauthron, has 9,464).
TINY_SPLIT_SIZES = {
    "train": (235_000, "an estimate: ≈25 buildings × ~9.4k views"),
    "val": (47_000, "an estimate: ≈5 buildings × ~9.4k views"),
    "test": (47_000, "an estimate: ≈5 buildings × ~9.4k views"),
}

# Standley / MTRobust train at 256×256; first in DATASETS: the paper's main dataset.
register_dataset(
    DatasetKind(
        "taskonomy",
        TaskonomyDataset,
        write_synthetic,
        image_size=256,
        order=0,
        split_sizes=TINY_SPLIT_SIZES,
    ),
    tasks=TASKONOMY_TASKS,
)
