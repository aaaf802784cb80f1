"""Ray casting with a z-buffer, and the shading that turns geometry into an image.

Every label of a synthetic view comes from the one :class:`Frame` rendered here (hit
distance, surface, normal, curvature per pixel), and the image itself is albedo times the
very Lambertian shading that the ``reshading`` label stores, so image and labels agree by
construction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tasks.synth.camera import NEAR, Camera
from tasks.synth.primitives import Shape


@dataclass(frozen=True, eq=False)
class Material:
    """Albedo (RGB in 0..1) modulated by a procedural pattern of period ``scale`` metres."""

    albedo: tuple[float, float, float]
    pattern: str = "plain"
    scale: float = 0.3
    contrast: float = 0.25


@dataclass(frozen=True, eq=False)
class Part:
    """One shape of one object: its geometry, semantic label and look."""

    shape: Shape
    label: int
    material: Material


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything a view is rendered from. ``light`` is the unit vector towards a
    directional light; ``keypoints`` are 3-D interest points (corners) in world units."""

    parts: list[Part]
    camera: Camera
    light: np.ndarray
    ambient: float
    keypoints: np.ndarray
    sky: tuple[tuple[float, float, float], tuple[float, float, float]]  # horizon, zenith


@dataclass(frozen=True, eq=False)
class Frame:
    """Per-pixel geometry of the nearest surface; ``part`` is -1 where a ray hits nothing."""

    distance: np.ndarray  # (H, W) ray length in metres, inf where nothing was hit
    part: np.ndarray  # (H, W) index into Scene.parts
    points: np.ndarray  # (H, W, 3) world
    normals: np.ndarray  # (H, W, 3) world, unit, facing the camera; 0 where invalid
    k1: np.ndarray  # (H, W) principal curvatures (1/m)
    k2: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        return self.part >= 0


def _window(shape: Shape, camera: Camera) -> tuple[slice, slice] | None:
    """The pixel rectangle that can see ``shape`` (None: none can).

    Perspective projection keeps the convex hull of points in front of the camera, so the
    projected corners of the shape's bounding box bound its image.
    """
    u, v, depth = camera.project(shape.bound_corners())
    if (depth <= NEAR).any():
        return slice(0, camera.height), slice(0, camera.width)
    c0, c1 = max(int(np.floor(u.min())), 0), min(int(np.ceil(u.max())) + 1, camera.width)
    r0, r1 = max(int(np.floor(v.min())), 0), min(int(np.ceil(v.max())) + 1, camera.height)
    if c0 >= c1 or r0 >= r1:
        return None
    return slice(r0, r1), slice(c0, c1)


def render(scene: Scene) -> Frame:
    """Cast one ray per pixel and keep the nearest hit of every part."""
    cam = scene.camera
    rays = cam.rays
    distance = np.full((cam.height, cam.width), np.inf)
    part = np.full((cam.height, cam.width), -1, dtype=np.int32)
    for index, p in enumerate(scene.parts):
        window = _window(p.shape, cam)
        if window is None:
            continue
        sub_rays = rays[window]
        t = p.shape.hit(cam.position, sub_rays.reshape(-1, 3)).reshape(sub_rays.shape[:2])
        nearer = t < distance[window]
        distance[window][nearer] = t[nearer]
        part[window][nearer] = index
    valid = part >= 0
    points = cam.position + rays * np.where(valid, distance, 0.0)[..., None]
    normals = np.zeros_like(points)
    k1 = np.zeros(distance.shape)
    k2 = np.zeros(distance.shape)
    for index in np.unique(part[valid]):
        mask = part == index
        n, c1, c2 = scene.parts[index].shape.surface(points[mask])
        facing = np.where(np.einsum("ij,ij->i", n, rays[mask]) > 0, -1.0, 1.0)
        normals[mask] = n * facing[:, None]
        k1[mask], k2[mask] = c1, c2
    return Frame(distance, part, points, normals, k1, k2)


def shading(frame: Frame, scene: Scene) -> np.ndarray:
    """Lambertian shading ambient + (1 - ambient)·max(0, n·l) in 0..1; 0 where invalid."""
    lambert = np.clip(frame.normals @ scene.light, 0.0, None)
    return np.where(frame.valid, scene.ambient + (1.0 - scene.ambient) * lambert, 0.0)


# Procedural patterns over local coordinates q (M, 3) in periods; each returns 0..1.
def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


_PATTERNS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "plain": lambda q: np.zeros(len(q)),
    "stripes": lambda q: (_frac(q[:, 0]) < 0.5).astype(float),
    "bands": lambda q: (_frac(q[:, 1]) < 0.5).astype(float),
    "checker": lambda q: (np.floor(q).sum(axis=1) % 2).astype(float),
    "grid": lambda q: (
        (np.abs(_frac(q[:, 0] + q[:, 2]) - 0.5) < 0.3) & (np.abs(_frac(q[:, 1]) - 0.5) < 0.25)
    ).astype(float),
    "speckle": lambda q: (
        0.5 + 0.5 * np.sin(7.1 * q[:, 0] + 2.3 * q[:, 1]) * np.sin(5.3 * q[:, 2] - 3.7 * q[:, 1])
    ),
}
PATTERNS = tuple(_PATTERNS)


def albedo(frame: Frame, scene: Scene) -> np.ndarray:
    """(H, W, 3) surface colour: material albedo times (1 - contrast·pattern)."""
    out = np.zeros(frame.points.shape)
    for index in np.unique(frame.part[frame.valid]):
        mask = frame.part == index
        p = scene.parts[index]
        q = p.shape.to_local(frame.points[mask]) / p.material.scale
        factor = 1.0 - p.material.contrast * _PATTERNS[p.material.pattern](q)
        out[mask] = np.asarray(p.material.albedo) * factor[:, None]
    return out


def image(frame: Frame, scene: Scene) -> np.ndarray:
    """(H, W, 3) uint8 RGB: shaded albedo, and a sky gradient where no geometry was hit."""
    lit = albedo(frame, scene) * shading(frame, scene)[..., None]
    horizon, zenith = (np.asarray(c) for c in scene.sky)
    elevation = np.clip(scene.camera.rays[..., 1], 0.0, 1.0)[..., None]
    sky = horizon + (zenith - horizon) * np.sqrt(elevation)
    rgb = np.where(frame.valid[..., None], lit, sky)
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.uint8)
