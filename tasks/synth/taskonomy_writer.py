"""Synthetic indoor views written in Taskonomy's on-disk format.

Layout ``{out}/{building}/{domain}/point_{P}_view_0_domain_{suffix}.png`` with P the image
index (:mod:`tasks.formats.taskonomy`), plus a ``point_info`` JSON per view holding the
camera and the light (the real dataset has such a folder too). Encodings follow the real
files: 16-bit depth in 1/512 m with 65535 where no geometry was hit, 127-centred 8-bit
normals in the camera frame, 8-bit shading and curvature, 16-bit edge and keypoint maps of
the real files' typical ranges.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from tasks.formats.taskonomy import POINT_INFO, RGB, SEGMENT_FILE_DOMAIN, TINY, Layout, file_name
from tasks.synth import features
from tasks.synth.output import (
    SplitCycle,
    SynthError,
    SynthReport,
    check_args,
    image_rng,
    write_all,
    write_json,
    write_png,
)
from tasks.synth.render import Frame, Scene, image, render, shading
from tasks.synth.rooms import room_scene

log = logging.getLogger(__name__)

STREAM = 0
DEPTH_UNITS_PER_M = 512.0
INVALID_DEPTH = 65535
NORMAL_INVALID = 128
CURVATURE_ZERO = 128.0
CURVATURE_PER_INV_M = 6.0  # 8-bit units per 1/m: a 5 cm radius (k = 20) stays below 255
EDGE_TEXTURE_SCALE = 12000.0  # 16-bit units per sqrt(gray-level gradient per pixel)
EDGE_OCCLUSION_PER_M = 800.0  # 16-bit units per metre of hidden depth gap
KEYPOINTS2D_SCALE = 8000.0  # 16-bit units per unit of Harris response^(1/4)
KEYPOINTS3D_PEAK = 57000.0
KEYPOINTS3D_SIGMA_M = 0.2

# Of every 20 consecutive images 14 go to training, 3 to validation and 3 to test, each
# split in buildings of the official tiny split so the reader's split selection finds them.
SPLITS = SplitCycle(20, val=(1, 8, 15), test=(2, 9, 16))
BUILDINGS = {"train": TINY["train"][:2], "val": TINY["val"][:1], "test": TINY["test"][:1]}


def building_of(index: int) -> str:
    """The building (and so the split) of image ``index``, independent of n."""
    return SPLITS.place(index, BUILDINGS)[1]


def encode_curvature(k: np.ndarray) -> np.ndarray:
    """8-bit code of a principal curvature (1/m); 0 is kept for invalid pixels."""
    return np.clip(np.round(CURVATURE_ZERO + CURVATURE_PER_INV_M * k), 1, 255).astype(np.uint8)


def curvature_from_code(v: np.ndarray) -> np.ndarray:
    """Inverse of :func:`encode_curvature` (1/m), exact up to quantisation inside 1..255."""
    return (v.astype(float) - CURVATURE_ZERO) / CURVATURE_PER_INV_M


def _uint16(values: np.ndarray) -> np.ndarray:
    return np.clip(np.round(values), 0, 65535).astype(np.uint16)


@dataclass(frozen=True, eq=False)
class RenderedView:
    """One rendered view and the intermediate results several domains share."""

    scene: Scene
    frame: Frame

    @cached_property
    def rgb(self) -> np.ndarray:
        return image(self.frame, self.scene)

    @cached_property
    def shading(self) -> np.ndarray:
        return shading(self.frame, self.scene)

    def depth(self, metres: np.ndarray) -> np.ndarray:
        """16-bit depth code; valid pixels stay below the invalid marker 65535."""
        code = np.minimum(_uint16(metres * DEPTH_UNITS_PER_M), INVALID_DEPTH - 1)
        return np.where(self.frame.valid, code, INVALID_DEPTH).astype(np.uint16)


def _normal(view: RenderedView) -> np.ndarray:
    n = view.scene.camera.to_camera(view.frame.normals)
    code = np.round((n + 1.0) / 2.0 * 255.0).astype(np.uint8)
    return np.where(view.frame.valid[..., None], code, np.uint8(NORMAL_INVALID))


def _curvature(view: RenderedView) -> np.ndarray:
    f = view.frame
    out = np.zeros((*f.k1.shape, 3), dtype=np.uint8)
    out[..., 0] = np.where(f.valid, encode_curvature(f.k1), 0)
    out[..., 1] = np.where(f.valid, encode_curvature(f.k2), 0)
    return out


def _reshading(view: RenderedView) -> np.ndarray:
    level = np.round(view.shading * 255.0).astype(np.uint8)
    return np.repeat(level[..., None], 3, axis=2)


def _segmentation(view: RenderedView) -> np.ndarray:
    labels = np.array([p.label for p in view.scene.parts] + [0], dtype=np.uint8)
    return labels[view.frame.part]  # part -1 (no geometry) picks the trailing 0: uncertain


_SUFFIX = {"segment_semantic": SEGMENT_FILE_DOMAIN}  # a folder's file suffix, else its name

ENCODERS: dict[str, Callable[[RenderedView], np.ndarray]] = {
    RGB: lambda v: v.rgb,
    "depth_zbuffer": lambda v: v.depth(v.frame.distance * v.scene.camera.axial),
    "depth_euclidean": lambda v: v.depth(v.frame.distance),
    "normal": _normal,
    "reshading": _reshading,
    "principal_curvature": _curvature,
    "segment_semantic": _segmentation,
    "edge_texture": lambda v: _uint16(EDGE_TEXTURE_SCALE * np.sqrt(features.texture_edges(v.rgb))),
    "edge_occlusion": lambda v: _uint16(
        EDGE_OCCLUSION_PER_M * features.occlusion_edges(v.frame, v.scene)
    ),
    "keypoints2d": lambda v: _uint16(KEYPOINTS2D_SCALE * features.harris(v.rgb)),
    "keypoints3d": lambda v: _uint16(
        KEYPOINTS3D_PEAK * features.keypoint_heat(v.frame, v.scene.keypoints, KEYPOINTS3D_SIGMA_M)
    ),
}


def resolve_domains(domains: Iterable[str] | None) -> list[str]:
    """Folder names to write: rgb always, plus the given Taskonomy domains (default: all)."""
    if domains is None:
        return list(ENCODERS)
    folders = [RGB]
    for name in domains:
        if name not in ENCODERS:
            known = ", ".join(ENCODERS)
            raise SynthError(f"unknown Taskonomy domain {name!r}; choose among {known}")
        if name not in folders:
            folders.append(name)
    return folders


def point_info(view: RenderedView, building: str, point: int) -> dict:
    """Camera, light and image facts of one view, for users and for checking the labels."""
    cam, scene = view.scene.camera, view.scene
    return {
        "building": building,
        "point": point,
        "view": 0,
        "resolution": [cam.height, cam.width],
        "intrinsics": {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy},
        "field_of_view_rads": float(2 * np.arctan(cam.width / (2 * cam.fx))),
        "camera_location": cam.position.tolist(),
        "camera_rotation_to_world": cam.rotation.tolist(),
        "light_direction_world": scene.light.tolist(),
        "light_direction_camera": cam.to_camera(scene.light).tolist(),
        "ambient": scene.ambient,
        "normal_frame": "camera: x right, y up, z towards the viewer",
        "depth_units_per_m": DEPTH_UNITS_PER_M,
        "curvature": {"zero": CURVATURE_ZERO, "units_per_inv_m": CURVATURE_PER_INV_M},
    }


def view_file(out_dir: Path, building: str, folder: str, point: int, ext: str = "png") -> Path:
    """Where the file of one domain (folder name) of one view goes."""
    folder_path = Layout(Path(out_dir), "building_first").folder(building, folder)
    return folder_path / file_name(point, 0, _SUFFIX.get(folder, folder), ext)


def render_view(seed: int, index: int, size: int) -> RenderedView:
    """The view of image ``index``: a pure function of (seed, index, size)."""
    scene = room_scene(image_rng(seed, STREAM, index), size)
    return RenderedView(scene, render(scene))


def write_taskonomy(
    out_dir: Path, n: int, size: int, seed: int, domains: Iterable[str] | None = None
) -> SynthReport:
    """Write ``n`` synthetic views of ``size``² pixels in Taskonomy's layout."""
    check_args(n, size, seed)
    folders = resolve_domains(domains)
    out_dir = Path(out_dir)

    def write_one(index: int) -> int:
        view = render_view(seed, index, size)
        building = building_of(index)
        for folder in folders:
            write_png(view_file(out_dir, building, folder, index), ENCODERS[folder](view))
        info = view_file(out_dir, building, POINT_INFO, index, "json")
        write_json(info, point_info(view, building, index))
        return len(folders) + 1

    return write_all("taskonomy", out_dir, n, write_one)
