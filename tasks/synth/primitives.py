"""Analytic shapes a ray can hit: oriented boxes, spheres and capped cylinders.

Each shape lives in its own local frame (centred at ``center``, axes = columns of
``rotation``), where its intersection and surface formulas are the textbook ones. The
base class moves rays into that frame and normals back out, so a new shape only states
its local geometry. Principal curvatures are exact: 0 on flat faces, 1/r on spheres, 1/r
and 0 on a cylinder's side; convex surfaces are positive.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

_EPS = 1e-6
_SIGNS = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1], indexing="ij")).reshape(3, -1).T


def rotation_y(angle: float) -> np.ndarray:
    """Rotation about the world's up axis (yaw)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rotation_x(angle: float) -> np.ndarray:
    """Rotation about the x axis (tips a shape's local y axis towards z)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


@dataclass(frozen=True, eq=False)
class Shape(ABC):
    center: np.ndarray
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))

    @property
    @abstractmethod
    def half_extent(self) -> np.ndarray:
        """Half sizes of the local bounding box (3,)."""

    @abstractmethod
    def hit_local(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Ray length to the first hit in front of the origin, inf where the ray misses."""

    @abstractmethod
    def surface_local(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outward unit normals (M, 3) and principal curvatures k1 >= k2 at surface points."""

    def hit(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """First-hit ray lengths for world rays from one origin, dirs (M, 3) unit."""
        return self.hit_local((origin - self.center) @ self.rotation, dirs @ self.rotation)

    def surface(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        normals, k1, k2 = self.surface_local(self.to_local(points))
        return normals @ self.rotation.T, k1, k2

    def to_local(self, points: np.ndarray) -> np.ndarray:
        return (points - self.center) @ self.rotation

    def bound_corners(self) -> np.ndarray:
        """The 8 world corners of the local bounding box; the shape lies in their hull."""
        return self.center + (_SIGNS * self.half_extent) @ self.rotation.T


@dataclass(frozen=True, eq=False)
class Box(Shape):
    half: np.ndarray = field(default_factory=lambda: np.ones(3))

    @property
    def half_extent(self) -> np.ndarray:
        return self.half

    def hit_local(self, origin, dirs):
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / dirs
            t1 = (-self.half - origin) * inv
            t2 = (self.half - origin) * inv
        near = np.nan_to_num(np.minimum(t1, t2), nan=-np.inf).max(axis=1)
        far = np.nan_to_num(np.maximum(t1, t2), nan=np.inf).min(axis=1)
        return np.where((far >= near) & (near > _EPS), near, np.inf)

    def surface_local(self, points):
        ratio = np.abs(points) / self.half
        axis = ratio.argmax(axis=1)
        normals = np.zeros_like(points)
        rows = np.arange(len(points))
        normals[rows, axis] = np.sign(points[rows, axis])
        zero = np.zeros(len(points))
        return normals, zero, zero


@dataclass(frozen=True, eq=False)
class Sphere(Shape):
    radius: float = 1.0

    @property
    def half_extent(self) -> np.ndarray:
        return np.full(3, self.radius)

    def hit_local(self, origin, dirs):
        b = dirs @ origin
        disc = b * b - (origin @ origin - self.radius**2)
        t = -b - np.sqrt(np.maximum(disc, 0.0))
        return np.where((disc >= 0) & (t > _EPS), t, np.inf)

    def surface_local(self, points):
        k = np.full(len(points), 1.0 / self.radius)
        return points / np.linalg.norm(points, axis=1, keepdims=True), k, k


@dataclass(frozen=True, eq=False)
class Cylinder(Shape):
    """A solid cylinder around the local y axis, capped at y = ±half_height."""

    radius: float = 1.0
    half_height: float = 1.0

    @property
    def half_extent(self) -> np.ndarray:
        return np.array([self.radius, self.half_height, self.radius])

    def hit_local(self, origin, dirs):
        dx, dy, dz = dirs.T
        a = dx * dx + dz * dz
        b = origin[0] * dx + origin[2] * dz
        c = origin[0] ** 2 + origin[2] ** 2 - self.radius**2
        disc = b * b - a * c
        with np.errstate(divide="ignore", invalid="ignore"):
            side = (-b - np.sqrt(np.maximum(disc, 0.0))) / a
            side_ok = (disc >= 0) & (a > 0) & (side > _EPS)
            side_ok &= np.abs(origin[1] + side * dy) <= self.half_height
            caps = np.stack([(h - origin[1]) / dy for h in (-self.half_height, self.half_height)])
        cx = origin[0] + caps * dx
        cz = origin[2] + caps * dz
        caps_ok = (caps > _EPS) & (cx * cx + cz * cz <= self.radius**2)
        cap = np.where(caps_ok, caps, np.inf).min(axis=0)
        return np.minimum(np.where(side_ok, side, np.inf), cap)

    def surface_local(self, points):
        rho = np.hypot(points[:, 0], points[:, 2])
        on_cap = np.abs(np.abs(points[:, 1]) - self.half_height) < np.abs(rho - self.radius)
        normals = np.zeros_like(points)
        safe = np.maximum(rho, _EPS)
        normals[:, 0] = np.where(on_cap, 0.0, points[:, 0] / safe)
        normals[:, 2] = np.where(on_cap, 0.0, points[:, 2] / safe)
        normals[:, 1] = np.where(on_cap, np.sign(points[:, 1]), 0.0)
        k1 = np.where(on_cap, 0.0, 1.0 / self.radius)
        return normals, k1, np.zeros(len(points))
