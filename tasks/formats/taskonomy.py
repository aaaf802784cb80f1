"""Taskonomy's on-disk format, shared by the reader and the synthetic writer.

Files are ``point_{P}_view_{V}_domain_{suffix}.png`` (suffix = the domain, except
``segmentsemantic`` for segment_semantic in the release); where the folder of one
(building, domain) pair lies depends on the layout (see :data:`LAYOUTS`). Split membership
is by building: the official split CSVs of StanfordVL/taskonomy
(docs/formats.md §6); only the "tiny" set's buildings are recorded here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tasks.errors import DataError

RGB = "rgb"
MASK = "mask"
DEPTH = "depth_zbuffer"
POINT_INFO = "point_info"
SEGMENT_FILE_DOMAIN = "segmentsemantic"
OMNIDATA_COMPONENT = "taskonomy"
RGB_FILE = re.compile(r"point_(\d+)_view_(\d+)_domain_rgb\.png")

LAYOUTS = {
    "building_first": "{root}/{building}/{domain}/ (one folder per building)",
    "domain_first": "{root}/{domain}/{building}/ (Standley et al.)",
    "omnidata": "{root}/{domain}/taskonomy/{building}/ (omnidata-tools download)",
    "flat": "{root}/{domain}/ (a single building named after the root)",
}


def file_name(point: int, view: int, suffix: str, ext: str = "png") -> str:
    """The file of one view in one domain, e.g. ``point_3_view_0_domain_normal.png``."""
    return f"point_{point}_view_{view}_domain_{suffix}.{ext}"


@dataclass(frozen=True)
class Layout:
    """Where the folder of one (building, domain) pair is under a root."""

    root: Path
    kind: str  # a key of LAYOUTS

    def __post_init__(self) -> None:
        if self.kind not in LAYOUTS:
            raise ValueError(f"unknown Taskonomy layout {self.kind!r}")

    def folder(self, building: str, domain: str) -> Path:
        if self.kind == "building_first":
            return self.root / building / domain
        if self.kind == "domain_first":
            return self.root / domain / building
        if self.kind == "omnidata":
            return self.root / domain / OMNIDATA_COMPONENT / building
        return self.root / domain


@dataclass(frozen=True)
class ViewKey:
    """The address of one view: building, point and view numbers."""

    building: str
    point: int
    view: int

    @property
    def stem(self) -> str:
        return f"point_{self.point}_view_{self.view}"

    def file(self, layout: Layout, domain: str, suffix: str) -> Path:
        return layout.folder(self.building, domain) / file_name(self.point, self.view, suffix)


TINY: dict[str, tuple[str, ...]] = {
    "train": (
        "allensville",
        "beechwood",
        "benevolence",
        "coffeen",
        "cosmos",
        "forkland",
        "hanson",
        "hiteman",
        "klickitat",
        "lakeville",
        "leonardo",
        "lindenwood",
        "marstons",
        "merom",
        "mifflinburg",
        "newfields",
        "onaga",
        "pinesdale",
        "pomaria",
        "ranchester",
        "shelbyville",
        "stockman",
        "tolstoy",
        "wainscott",
        "woodbine",
    ),
    "val": ("collierville", "corozal", "darden", "markleeville", "wiconisco"),
    "test": ("ihlen", "mcdade", "muleshoe", "noxapater", "uvalda"),
}

SPLIT_SETS: dict[str, dict[str, tuple[str, ...]]] = {"tiny": TINY}
PARTS = ("train", "val", "test")


def buildings(part: str, split_set: str = "tiny") -> tuple[str, ...]:
    """The buildings of one part (train/val/test) of a named official split set."""
    if split_set not in SPLIT_SETS:
        raise DataError(
            f"unknown Taskonomy split set {split_set!r}; known: {', '.join(SPLIT_SETS)}"
        )
    if part not in PARTS:
        raise DataError(f"unknown Taskonomy split {part!r}; use one of {', '.join(PARTS)}")
    return SPLIT_SETS[split_set][part]
