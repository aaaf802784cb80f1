"""Taskonomy: its task table, and its reader of the files as they lie on disk.

``TASKONOMY_TASKS`` describes the 11 tasks under the ``standley`` convention; adding a
Taskonomy task is one entry there. The reader handles any of the usual layouts.

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
from typing import Any

import lazy_loader

from tasks.conventions import get_convention
from tasks.dataset_kind import DatasetKind, register_dataset
from tasks.errors import DataError
from tasks.formats.taskonomy import (
    LAYOUTS,
    MASK,
    OMNIDATA_COMPONENT,
    RGB,
    RGB_FILE,
    SEGMENT_FILE_DOMAIN,
    Layout,
    ViewKey,
    buildings,
)
from tasks.labels import (
    TASKONOMY_SEG_IGNORE,
    Decoded,
    Decoder,
    affine16,
    decode_class_ids,
    decode_curvature_standley,
    decode_depth_standley,
    decode_normal,
    decode_reshading_standley,
)
from tasks.losses import l1_loss, make_ce_loss
from tasks.reading import SampleReader, fit_label, read_image, read_label, read_png
from tasks.synth import write_taskonomy
from tasks.task import (
    REG_DIRECTION,
    SEG_DIRECTION,
    Task,
    identity,
    reg_meter,
    seg_meter,
    under_convention,
)

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")
log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- task table


def _taskonomy_regression(
    name: str,
    letter: str,
    channels: int,
    decode: Decoder | None,
    masked: bool,
    units: str,
    description: str,
    **kw,
) -> Task:
    return Task(
        name=name,
        letter=letter,
        dataset="taskonomy",
        channels=channels,
        kind="regression",
        loss=l1_loss,
        make_meter=reg_meter(abs="l1", rmse="rmse"),
        primary_metric="l1",
        higher_is_better=REG_DIRECTION,
        decode=decode,
        uses_depth_mask=masked,
        units=units,
        description=description,
        **kw,
    )


_STANDLEY_DEPTH = "(v-1500)/1000 of the 1/512 m code: 1 unit = 1000/512 m ≈ 1.95 m"

TASKONOMY_TASKS: tuple[Task, ...] = (
    Task(
        name="segment_semantic",
        letter="s",
        dataset="taskonomy",
        channels=18,
        kind="segmentation",
        loss=make_ce_loss(TASKONOMY_SEG_IGNORE),
        make_meter=seg_meter(18, TASKONOMY_SEG_IGNORE),
        primary_metric="miou",
        higher_is_better=SEG_DIRECTION,
        decode=decode_class_ids,
        file_domain=SEGMENT_FILE_DOMAIN,
        ignore_index=TASKONOMY_SEG_IGNORE,
        units="class ids",
        description="semantic classes (0 = uncertain, ignored; 1 = background; 2..17 objects)",
    ),
    _taskonomy_regression(
        "depth_zbuffer", "d", 1, decode_depth_standley, True, _STANDLEY_DEPTH, "z-buffer depth"
    ),
    _taskonomy_regression(
        "depth_euclidean",
        "D",
        1,
        decode_depth_standley,
        True,
        _STANDLEY_DEPTH,
        "ray-length depth",
    ),
    _taskonomy_regression(
        "normal",
        "n",
        3,
        decode_normal,
        True,
        "unit-vector components in [-1, 1]",
        "surface normals; channel 0 is the horizontal (x) component",
        mirror_negates=(0,),
    ),
    _taskonomy_regression(
        "edge_texture",
        "e",
        1,
        affine16(718.0, 1070.0),
        False,
        "(v-718)/1070 of the 16-bit code",
        "image-gradient edges",
    ),
    _taskonomy_regression(
        "edge_occlusion",
        "E",
        1,
        affine16(56.0248, 239.1265),
        True,
        "(v-56.0248)/239.1265 of the 16-bit code",
        "depth-discontinuity edges",
    ),
    _taskonomy_regression(
        "keypoints2d",
        "k",
        1,
        affine16(50.0, 100.0),
        False,
        "(v-50)/100 of the 16-bit code",
        "2D interest-point heat map",
    ),
    _taskonomy_regression(
        "keypoints3d",
        "K",
        1,
        # Standley has no keypoints3d; offset and scale from the mean (5473) and range of
        # the omnidata sample (docs/formats.md §6).
        affine16(5473.0, 10000.0),
        True,
        "(v-5473)/10000 of the 16-bit code",
        "3D interest-point heat map",
    ),
    _taskonomy_regression(
        "principal_curvature",
        "p",
        2,
        decode_curvature_standley,
        True,
        "standardised k1, k2 codes (Standley's mean and std)",
        "principal curvatures k1, k2 (8-bit, channels 0 and 1)",
    ),
    _taskonomy_regression(
        "reshading",
        "r",
        1,
        decode_reshading_standley,
        True,
        "(gray-0.4962)/0.2846, gray in [0, 1]",
        "shading under a fixed light",
    ),
    _taskonomy_regression(
        "autoencoder",
        "A",
        3,
        None,
        False,
        "RGB in [0, 1]",
        "reconstruction of the input image",
        domain=RGB,
        target_from_input=identity,
    ),
)


def _task(name: str) -> Task:
    """A task of the table by name (the reader's own lookup: no registry needed)."""
    return next(t for t in TASKONOMY_TASKS if t.name == name)


# --------------------------------------------------------------------------- reader

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
        self._depth_decode = under_convention(_task(self._mask_depth), self.convention).decode
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


# The official "tiny" split set (the paper's), estimated: ≈25 train, 5 val, 5 test buildings
# of ~9.4k views (one building, Cauthron, has 9,464).
TINY_SPLIT_SIZES = {
    "train": (235_000, "an estimate: ≈25 buildings × ~9.4k views"),
    "val": (47_000, "an estimate: ≈5 buildings × ~9.4k views"),
    "test": (47_000, "an estimate: ≈5 buildings × ~9.4k views"),
}

# Standley / MTRobust train at 256×256; first of the datasets: the paper's main one.
register_dataset(
    DatasetKind(
        "taskonomy",
        TaskonomyDataset,
        write_taskonomy,
        image_size=256,
        order=0,
        split_sizes=TINY_SPLIT_SIZES,
    ),
    tasks=TASKONOMY_TASKS,
)
