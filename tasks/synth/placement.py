"""Helpers to assemble objects from primitives in an object's own frame.

An object is placed at a base point (on the floor, a table top or a wall) with a yaw; its
parts are given as offsets from that base in the object's frame, where +z is the side the
object faces and +y is up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from tasks.synth.primitives import Box, Cylinder, Sphere, rotation_x, rotation_y
from tasks.synth.render import Material, Part

Colour = tuple[float, float, float]


def material(
    rng: np.random.Generator,
    colour: Colour,
    pattern: str = "plain",
    scale: float = 0.3,
    contrast: float = 0.25,
    jitter: float = 0.06,
) -> Material:
    """A material whose colour varies a little from object to object of a class."""
    rgb = np.clip(np.asarray(colour) + rng.uniform(-jitter, jitter, 3), 0.02, 1.0)
    return Material(tuple(float(c) for c in rgb), pattern, scale, contrast)


@dataclass(frozen=True, eq=False)
class Placement:
    """An object's frame in the world: base point and yaw about the up axis."""

    base: np.ndarray
    yaw: float

    @property
    def rotation(self) -> np.ndarray:
        return rotation_y(self.yaw)

    def at(self, offset: np.ndarray | list[float]) -> np.ndarray:
        """World position of a point given in the object's frame."""
        return self.base + self.rotation @ np.asarray(offset, dtype=float)

    def box(self, offset, size, label: int, mat: Material) -> Part:
        """A box of full ``size`` (x, y, z) centred at ``offset``."""
        shape = Box(self.at(offset), self.rotation, half=np.asarray(size, dtype=float) / 2.0)
        return Part(shape, label, mat)

    def cylinder(
        self, offset, radius: float, height: float, label: int, mat: Material, axis: str = "y"
    ) -> Part:
        """A cylinder centred at ``offset`` whose axis is the object's x, y (upright) or z."""
        tilt = {"y": np.eye(3), "z": rotation_x(np.pi / 2)}
        tilt["x"] = rotation_y(np.pi / 2) @ tilt["z"]
        shape = Cylinder(
            self.at(offset), self.rotation @ tilt[axis], radius=radius, half_height=height / 2.0
        )
        return Part(shape, label, mat)

    def sphere(self, offset, radius: float, label: int, mat: Material) -> Part:
        return Part(Sphere(self.at(offset), radius=radius), label, mat)


def box_corners(parts: list[Part]) -> np.ndarray:
    """(K, 3) world corners of every box among the parts: the scene's 3-D keypoints."""
    corners = [p.shape.bound_corners() for p in parts if isinstance(p.shape, Box)]
    return np.concatenate(corners) if corners else np.zeros((0, 3))


def shifted(parts: list[Part], offset: np.ndarray) -> list[Part]:
    """The parts moved by ``offset`` (objects are built at the origin, then placed)."""
    return [replace(p, shape=replace(p.shape, center=p.shape.center + offset)) for p in parts]


def light_direction(elevation: float, azimuth: float) -> np.ndarray:
    """Unit vector towards a directional light ``elevation`` radians above the horizon."""
    return np.array(
        [
            np.cos(elevation) * np.sin(azimuth),
            np.sin(elevation),
            np.cos(elevation) * np.cos(azimuth),
        ]
    )
