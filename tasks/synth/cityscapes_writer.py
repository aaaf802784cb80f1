"""Synthetic street frames written in Cityscapes' on-disk format.

Per frame ``{city}_{seq:06d}_000019``: ``leftImg8bit`` (8-bit RGB, 2:1), ``gtFine``
``_labelIds`` (8-bit labelIds), ``disparity`` (16-bit, v = d·256 + 1, 0 = invalid: sky)
and ``camera`` JSON (baseline, intrinsics), under ``{domain}/{split}/{city}/``
(:mod:`tasks.formats.cityscapes`). Disparity is d = baseline·fx / z with z the rendered
depth along the optical axis, so depth = baseline·fx / d recovers the rendered depth up to
quantisation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.formats import cityscapes as cs
from tasks.synth.camera import Camera
from tasks.synth.output import (
    SplitCycle,
    SynthReport,
    check_args,
    image_rng,
    write_all,
    write_json,
    write_png,
)
from tasks.synth.render import Frame, Scene, image, render
from tasks.synth.streets import BASELINE, IDS, street_scene

STREAM = 1
FRAME = 19  # the annotated frame of every Cityscapes sequence
SPLITS = SplitCycle(5, val=(1,))  # of every 5 frames one goes to validation: 80/20 from n = 2
CITIES = {"train": ("aachen", "bochum"), "val": ("frankfurt",)}


def split_of(index: int) -> tuple[str, str]:
    """(split, city) of frame ``index``, independent of n; train frames alternate cities."""
    return SPLITS.place(index, CITIES)


def frame_name(city: str, index: int) -> str:
    return cs.frame_name(city, index, FRAME)


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
    return cs.file_path(out_dir, domain, split, city, frame_name(city, index), suffix)


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
        files = {
            (cs.IMAGES, cs.IMAGES): image(frame, scene),
            (cs.LABELS, cs.LABEL_SUFFIX): label_ids(frame, scene),
            (cs.DISPARITY, cs.DISPARITY): disparity(frame, scene.camera),
        }
        for (domain, suffix), pixels in files.items():
            write_png(file_path(out_dir, domain, index, f"{suffix}.png"), pixels)
        camera = file_path(out_dir, cs.CAMERA, index, f"{cs.CAMERA}.json")
        write_json(camera, camera_json(scene.camera))
        return len(files) + 1

    return write_all("cityscapes", out_dir, n, write_one)
