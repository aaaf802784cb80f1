"""A pinhole camera: the rays it casts and where world points land in its image.

Conventions (those of OpenGL, which Taskonomy's normal maps also follow): the world's y
axis points up; the camera frame has x to the right, y up and z towards the viewer, so the
camera looks along -z. Pixel (row i, column j) is the ray through the pixel's centre
(j + 0.5, i + 0.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

NEAR = 0.05  # metres; points closer than this along the optical axis are not projected


def yaw_pitch_rotation(yaw: float, pitch: float) -> np.ndarray:
    """Columns = the camera's right, up and back axes in world coordinates.

    yaw turns about the world's up axis (0 looks along +z), pitch tilts the view up.
    """
    forward = np.array([np.sin(yaw) * np.cos(pitch), np.sin(pitch), np.cos(yaw) * np.cos(pitch)])
    right = np.cross(forward, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return np.stack([right, up, -forward], axis=1)


@dataclass(frozen=True, eq=False)
class Camera:
    """Intrinsics in pixels, pose as a position and a camera-to-world rotation."""

    position: np.ndarray  # (3,) world
    rotation: np.ndarray  # (3, 3) camera-to-world; columns right, up, back
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @property
    def forward(self) -> np.ndarray:
        return -self.rotation[:, 2]

    @cached_property
    def _camera_rays(self) -> np.ndarray:
        """(H, W, 3) unit ray directions in the camera frame."""
        u = (np.arange(self.width) + 0.5 - self.cx) / self.fx
        v = -(np.arange(self.height) + 0.5 - self.cy) / self.fy
        rays = np.empty((self.height, self.width, 3))
        rays[..., 0] = u[None, :]
        rays[..., 1] = v[:, None]
        rays[..., 2] = -1.0
        return rays / np.linalg.norm(rays, axis=-1, keepdims=True)

    @cached_property
    def rays(self) -> np.ndarray:
        """(H, W, 3) unit ray directions in the world frame."""
        return self._camera_rays @ self.rotation.T

    @cached_property
    def axial(self) -> np.ndarray:
        """(H, W) cosine between each ray and the optical axis: z-depth = ray length · axial."""
        return -self._camera_rays[..., 2]

    def to_camera(self, vectors: np.ndarray) -> np.ndarray:
        """World directions (..., 3) in the camera frame."""
        return vectors @ self.rotation

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pixel coordinates (u, v) and z-depth of world points (..., 3); u, v are
        continuous, pixel (i, j) spanning [j, j+1) × [i, i+1)."""
        local = self.to_camera(points - self.position)
        depth = -local[..., 2]
        safe = np.where(depth > NEAR, depth, np.nan)
        u = self.cx + self.fx * local[..., 0] / safe
        v = self.cy - self.fy * local[..., 1] / safe
        return u, v, depth


def look(
    position: np.ndarray, yaw: float, pitch: float, hfov: float, width: int, height: int
) -> Camera:
    """A camera with square pixels, principal point at the centre, horizontal field hfov."""
    f = width / (2.0 * np.tan(hfov / 2.0))
    return Camera(
        position=np.asarray(position, dtype=float),
        rotation=yaw_pitch_rotation(yaw, pitch),
        fx=f,
        fy=f,
        cx=width / 2.0,
        cy=height / 2.0,
        width=width,
        height=height,
    )
