"""Cityscapes' on-disk format, shared by the reader and the synthetic writer.

Every file is ``{root}/{domain}/{split}/{city}/{frame}_{suffix}`` with ``frame`` =
``{city}_{seq:06d}_{frame:06d}`` (cityscapesScripts README; docs/formats.md §8). Split membership is the ``{split}`` folder.
"""

from __future__ import annotations

from pathlib import Path

IMAGES = "leftImg8bit"
LABELS = "gtFine"
LABEL_SUFFIX = "gtFine_labelIds"
DISPARITY = "disparity"
CAMERA = "camera"
IMAGE_FILE_SUFFIX = f"_{IMAGES}.png"


def frame_name(city: str, sequence: int, frame: int) -> str:
    """``aachen_000012_000019``: the stem every file of one frame shares."""
    return f"{city}_{sequence:06d}_{frame:06d}"


def file_path(root: Path, domain: str, split: str, city: str, frame: str, suffix: str) -> Path:
    """One file of one frame; ``suffix`` includes the extension (``disparity.png``)."""
    return Path(root) / domain / split / city / f"{frame}_{suffix}"


def frame_of(image_file: Path) -> str:
    """The frame stem of an image file name (``…_leftImg8bit.png``)."""
    return image_file.name[: -len(IMAGE_FILE_SUFFIX)]
