"""Synthetic street frames written in Cityscapes' on-disk format.

Per frame ``{city}_{seq:06d}_000019``: ``leftImg8bit`` (8-bit RGB, 2:1), ``gtFine``
``_labelIds`` (8-bit labelIds), ``disparity`` (16-bit, v = d·256 + 1, 0 = invalid: sky)
and ``camera`` JSON (baseline, intrinsics), under ``{domain}/{split}/{city}/``. Disparity
is d = baseline·fx / z with z the rendered depth along the optical axis, so depth read
back through the camera file is the rendered depth up to quantisation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.synth.camera import Camera
from tasks.synth.files import SynthReport, check_args, image_rng, write_all, write_json, write_png
from tasks.synth.render import Frame, Scene, image, render
from tasks.synth.streets import BASELINE, IDS, street_scene

STREAM = 1
FRAME = 19  # the annotated frame of every Cityscapes sequence
TRAIN_CITIES = ("aachen", "bochum")
VAL_CITY = "frankfurt"
_CYCLE = 5  # of every 5 frames one goes to validation: 80/20, and already at n = 2
_VAL_SLOT = 1


def split_of(index: int) -> tuple[str, str]:
    """(split, city) of frame ``index``, independent of n; train frames alternate cities."""
    slot = index % _CYCLE
    if slot == _VAL_SLOT:
        return "val", VAL_CITY
    val_before = index // _CYCLE + (1 if slot > _VAL_SLOT else 0)
    return "train", TRAIN_CITIES[(index - val_before) % len(TRAIN_CITIES)]


def frame_name(city: str, index: int) -> str:
    return f"{city}_{index:06d}_{FRAME:06d}"


def label_ids(frame: Frame, scene: Scene) -> np.ndarray:
    """8-bit labelIds: each hit part's id, sky where nothing was hit."""
    ids = np.array([p.label for p in scene.parts] + [IDS["sky"]], dtype=np.uint8)
    return ids[frame.part]


def disparity(frame: Frame, camera: Camera) -> np.ndarray:
    """16-bit Cityscapes disparity code round(d·256 + 1), 0 where nothing was hit."""
    depth = np.where(frame.valid, frame.distance * camera.axial, np.inf)
    d = BASELINE * camera.fx / depth
    return np.where(frame.valid, np.clip(np.round(d * 256.0 + 1.0), 1, 65535), 0).astype(np.uint16)


def camera_json(camera: Camera) -> dict:
    """The fields of a Cityscapes camera file that matter here (and their usual companions)."""
    forward = camera.forward
    return {
        "extrinsic": {
            "baseline": BASELINE,
            "pitch": float(np.arcsin(forward[1])),
            "roll": 0.0,
            "x": 1.7,
            "y": 0.0,
            "yaw": float(np.arctan2(forward[0], forward[2])),
            "z": float(camera.position[1]),
        },
        "intrinsic": {"fx": camera.fx, "fy": camera.fy, "u0": camera.cx, "v0": camera.cy},
    }


def file_path(out_dir: Path, domain: str, index: int, suffix: str) -> Path:
    """Path of one file of frame ``index``, e.g. domain "gtFine", suffix "gtFine_labelIds.png"."""
    split, city = split_of(index)
    return out_dir / domain / split / city / f"{frame_name(city, index)}_{suffix}"


def render_frame(seed: int, index: int, size: int) -> tuple[Scene, Frame]:
    """Scene and rendering of frame ``index``: a pure function of (seed, index, size)."""
    scene = street_scene(image_rng(seed, STREAM, index), size)
    return scene, render(scene)


def write_cityscapes(out_dir: Path, n: int, size: int, seed: int) -> SynthReport:
    """Write ``n`` synthetic frames of ``size`` × 2·``size`` pixels in Cityscapes' layout."""
    check_args(n, size, seed)
    out_dir = Path(out_dir)

    def write_one(index: int) -> int:
        scene, frame = render_frame(seed, index, size)
        write_png(file_path(out_dir, "leftImg8bit", index, "leftImg8bit.png"), image(frame, scene))
        write_png(
            file_path(out_dir, "gtFine", index, "gtFine_labelIds.png"), label_ids(frame, scene)
        )
        write_png(
            file_path(out_dir, "disparity", index, "disparity.png"), disparity(frame, scene.camera)
        )
        write_json(file_path(out_dir, "camera", index, "camera.json"), camera_json(scene.camera))
        return 4

    return write_all("cityscapes", out_dir, n, write_one)
