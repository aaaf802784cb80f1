"""Labels derived from a rendered frame or its image: edges, corners, 3-D keypoints.

Texture edges and 2-D keypoints are computed from the 8-bit image exactly as written,
so they are functions of the input a network sees. Occlusion edges and 3-D keypoints use
the analytic scene instead, which is what makes them occlusion-aware.
"""

from __future__ import annotations

import numpy as np

from tasks.synth.render import Frame, Scene

_LUMA = np.array([0.299, 0.587, 0.114])
_HARRIS_K = 0.05


def gray(rgb: np.ndarray) -> np.ndarray:
    """Luma of an 8-bit RGB image in 0..1."""
    return rgb.astype(float) @ _LUMA / 255.0


def blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a 2-D array (edges reflected)."""
    radius = max(1, int(np.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    out = img
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="reflect" if out.shape[axis] > radius else "edge")
        n = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(i, i + n), axis=axis) for i, w in enumerate(kernel))
    return out


def sobel(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Horizontal and vertical derivatives per pixel (Sobel kernels divided by 8)."""
    p = np.pad(img, 1, mode="edge")
    smooth_rows = p[:-2] + 2.0 * p[1:-1] + p[2:]
    smooth_cols = p[:, :-2] + 2.0 * p[:, 1:-1] + p[:, 2:]
    gx = (smooth_rows[:, 2:] - smooth_rows[:, :-2]) / 8.0
    gy = (smooth_cols[2:] - smooth_cols[:-2]) / 8.0
    return gx, gy


def texture_edges(rgb: np.ndarray) -> np.ndarray:
    """Image-gradient magnitude of the gray image (intensity units per pixel)."""
    gx, gy = sobel(gray(rgb))
    return np.hypot(gx, gy)


def harris(rgb: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Fourth root of the positive Harris corner response, smoothed.

    The root brings the response (gradient⁴) back to gradient units, so weak corners are
    not drowned by a few strong ones: a heat map rather than a handful of spikes.
    """
    gx, gy = sobel(gray(rgb))
    xx, yy, xy = (blur(a, sigma) for a in (gx * gx, gy * gy, gx * gy))
    response = xx * yy - xy * xy - _HARRIS_K * (xx + yy) ** 2
    return blur(np.clip(response, 0.0, None) ** 0.25, sigma)


def occlusion_edges(frame: Frame, scene: Scene) -> np.ndarray:
    """(H, W) depth gap in metres hidden behind an occluding contour, 0 elsewhere.

    Neighbouring pixels p, q on different parts form an occlusion edge when q's ray,
    continued, meets p's shape clearly behind q's own hit: something at q hides p's
    surface. Contact creases (a box on the floor) give gaps of the order of a pixel's
    footprint on the two surfaces, which the tolerance absorbs; a part's own faces never
    occlude each other because every shape is convex.
    """
    cam = scene.camera
    h, w = frame.part.shape
    part = frame.part.ravel()
    dist = frame.distance.ravel()
    rays = cam.rays.reshape(-1, 3)
    normals = frame.normals.reshape(-1, 3)
    grazing = 1.0 / np.maximum(np.abs(np.einsum("ij,ij->i", normals, rays)), 0.1)
    footprint = dist / min(cam.fx, cam.fy)
    gap = np.zeros(h * w)
    index = np.arange(h * w).reshape(h, w)
    pairs = [(index[:, :-1], index[:, 1:]), (index[:-1], index[1:])]
    for a, b in pairs:
        a, b = a.ravel(), b.ravel()
        keep = (part[a] != part[b]) & (part[a] >= 0) & (part[b] >= 0)
        for p, q in ((a[keep], b[keep]), (b[keep], a[keep])):
            tol = 0.05 + 1.5 * footprint[q] * (grazing[p] + grazing[q])
            behind = np.zeros(len(p))
            for k in np.unique(part[p]):
                sel = part[p] == k
                t = scene.parts[k].shape.hit(cam.position, rays[q[sel]])
                behind[sel] = np.where(np.isfinite(t), t - dist[q[sel]], 0.0)
            hidden = np.where(behind > tol, behind, 0.0)
            np.maximum.at(gap, p, hidden)
            np.maximum.at(gap, q, hidden)
    return gap.reshape(h, w)


def keypoint_heat(
    frame: Frame, keypoints: np.ndarray, sigma: float, chunk: int = 8192
) -> np.ndarray:
    """(H, W) in 0..1: exp(-d²/2σ²) with d the 3-D distance from the pixel's surface point
    to the nearest keypoint; hidden keypoints light up only the surfaces near them."""
    out = np.zeros(frame.part.shape)
    if len(keypoints) == 0:
        return out
    points = frame.points[frame.valid].astype(np.float32)
    kp = np.asarray(keypoints, dtype=np.float32)
    kp_sq = (kp * kp).sum(axis=1)
    nearest = np.empty(len(points), dtype=np.float32)
    for start in range(0, len(points), chunk):
        block = points[start : start + chunk]
        d2 = (block * block).sum(axis=1)[:, None] + kp_sq[None, :] - 2.0 * block @ kp.T
        nearest[start : start + chunk] = d2.min(axis=1)
    out[frame.valid] = np.exp(-np.clip(nearest, 0.0, None) / (2.0 * sigma**2))
    return out
