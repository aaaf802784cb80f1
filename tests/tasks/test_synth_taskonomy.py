"""The synthetic Taskonomy writer: layout, encodings, determinism and physical consistency.

Every check decodes the files as written (PIL + numpy, or the registry's decoders) and
compares them with each other, with the per-view ``point_info`` camera and light, or with
the analytic scene they were rendered from.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tasks.formats.taskonomy import TINY
from tasks.labels import decode_rgb
from tasks.registry import get_task, tasks_of
from tasks.synth import SynthError, write_taskonomy
from tasks.synth.primitives import Box, Sphere
from tasks.synth.taskonomy_writer import (
    DEPTH_UNITS_PER_M,
    EDGE_OCCLUSION_PER_M,
    KEYPOINTS3D_PEAK,
    KEYPOINTS3D_SIGMA_M,
    building_of,
    curvature_from_code,
    render_view,
    view_file,
)

torch.set_num_threads(1)

N, PX, SEED = 8, 32, 0
FOLDERS = {t.folder: t for t in tasks_of("taskonomy")}  # includes rgb (autoencoder)
# folder -> (dtype, channels)
FORMATS = {
    "rgb": (np.uint8, 3),
    "depth_zbuffer": (np.uint16, 1),
    "depth_euclidean": (np.uint16, 1),
    "normal": (np.uint8, 3),
    "reshading": (np.uint8, 3),
    "principal_curvature": (np.uint8, 3),
    "segment_semantic": (np.uint8, 1),
    "edge_texture": (np.uint16, 1),
    "edge_occlusion": (np.uint16, 1),
    "keypoints2d": (np.uint16, 1),
    "keypoints3d": (np.uint16, 1),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("taskonomy")
    report = write_taskonomy(out, n=N, size=PX, seed=SEED)
    assert (report.n_images, report.n_files, report.dataset) == (N, N * 12, "taskonomy")
    return out


def read(root: Path, folder: str, index: int) -> np.ndarray:
    with Image.open(view_file(root, building_of(index), folder, index)) as img:
        arr = np.asarray(img)
    return arr.astype(np.uint16) if arr.dtype.kind in "iu" and arr.dtype.itemsize > 1 else arr


def info(root: Path, index: int) -> dict:
    path = root / building_of(index) / "point_info" / f"point_{index}_view_0_domain_point_info.json"
    return json.loads(path.read_text())


def depth_m(root: Path, folder: str, index: int) -> tuple[np.ndarray, np.ndarray]:
    raw = read(root, folder, index)
    return raw.astype(float) / DEPTH_UNITS_PER_M, raw != 65535


def camera_rays(meta: dict) -> np.ndarray:
    """(H, W, 3) pixel-centre rays in the camera frame with unit z-component magnitude."""
    k = meta["intrinsics"]
    h, w = meta["resolution"]
    u = (np.arange(w) + 0.5 - k["cx"]) / k["fx"]
    v = -(np.arange(h) + 0.5 - k["cy"]) / k["fy"]
    rays = np.stack(np.broadcast_arrays(u[None, :], v[:, None], -1.0), axis=-1)
    return rays


def world_points(root: Path, index: int) -> tuple[np.ndarray, np.ndarray]:
    """World 3-D points of every pixel from the z-buffer depth file and point_info."""
    meta = info(root, index)
    z, valid = depth_m(root, "depth_zbuffer", index)
    local = camera_rays(meta) * z[..., None]
    rot = np.array(meta["camera_rotation_to_world"])
    return local @ rot.T + np.array(meta["camera_location"]), valid


# --------------------------------------------------------------------------- layout


def test_every_domain_of_every_view_is_in_the_layout_with_its_encoding(root):
    buildings = {building_of(i) for i in range(N)}
    assert buildings == {*TINY["train"][:2], TINY["val"][0], TINY["test"][0]}
    for i in range(N):
        for folder, (dtype, channels) in FORMATS.items():
            path = view_file(root, building_of(i), folder, i)
            suffix = "segmentsemantic" if folder == "segment_semantic" else folder
            assert path.name == f"point_{i}_view_0_domain_{suffix}.png"
            assert path.parent == root / building_of(i) / folder
            arr = read(root, folder, i)
            assert arr.dtype == dtype, folder
            assert arr.shape == ((PX, PX) if channels == 1 else (PX, PX, channels)), folder
    leftovers = [p for p in root.rglob(".*")]
    assert leftovers == []  # no temporary files


def test_splits_hold_about_70_15_15_percent_and_do_not_depend_on_n():
    counts = {"train": 0, "val": 0, "test": 0}
    for i in range(200):
        b = building_of(i)
        counts[next(s for s in ("train", "val", "test") if b in TINY[s])] += 1
    assert counts == {"train": 140, "val": 30, "test": 30}
    assert {building_of(i) for i in range(3)} == {TINY["train"][0], TINY["val"][0], TINY["test"][0]}


def test_every_file_decodes_with_the_registry_into_sensible_ranges(root):
    for i in range(N):
        valid = read(root, "depth_zbuffer", i) != 65535
        for folder in FORMATS:
            decode = FOLDERS[folder].decode or decode_rgb  # rgb: the input, read by no task
            decoded = decode(read(root, folder, i))
            t = decoded.target
            assert torch.isfinite(t).all(), folder
            if folder.startswith("depth"):
                assert torch.equal(decoded.mask[0], torch.from_numpy(valid)), folder
                metres = t[0][decoded.mask[0]]  # (v - 1500) / 1000: 0 m -> -1.5, 16 m -> 6.692
                assert metres.min() >= -1.5 and metres.max() < 6.692, folder
            if folder == "normal":
                assert t.abs().max() <= 1.0
            if folder == "segment_semantic":
                assert 0 <= t.min() and t.max() <= 17


def test_invalid_pixels_agree_across_domains(root):
    """Where no geometry was hit (open windows) every masked domain says so."""
    invalid_seen = 0
    for i in range(N):
        invalid = read(root, "depth_zbuffer", i) == 65535
        invalid_seen += int(invalid.sum())
        assert np.array_equal(invalid, read(root, "depth_euclidean", i) == 65535)
        assert np.array_equal(invalid, (read(root, "normal", i) == 128).all(axis=2))
        assert np.array_equal(invalid, (read(root, "principal_curvature", i) == 0).all(axis=2))
        assert np.array_equal(invalid, read(root, "segment_semantic", i) == 0)
        assert (read(root, "edge_occlusion", i)[invalid] == 0).all()
        assert (read(root, "keypoints3d", i)[invalid] == 0).all()
        assert read(root, "depth_zbuffer", i)[~invalid].max() < 2**13  # rooms fit in 16 m
    assert invalid_seen > 0  # some view looks through a window


# --------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_any_n_and_another_seed_differs(root, tmp_path):
    small = tmp_path / "small"
    other = tmp_path / "other"
    write_taskonomy(small, n=4, size=PX, seed=SEED)
    write_taskonomy(other, n=4, size=PX, seed=SEED + 1)
    for i in range(4):
        for folder in FORMATS:
            a = view_file(root, building_of(i), folder, i).read_bytes()
            assert view_file(small, building_of(i), folder, i).read_bytes() == a, folder
        rgb = view_file(other, building_of(i), "rgb", i).read_bytes()
        assert rgb != view_file(root, building_of(i), "rgb", i).read_bytes()


def test_domains_subset_and_bad_arguments(tmp_path):
    report = write_taskonomy(tmp_path, n=2, size=16, seed=3, domains=["depth_zbuffer", "normal"])
    written = sorted(p.parent.name for p in tmp_path.rglob("*.png"))
    assert written == sorted(["depth_zbuffer", "normal", "rgb"] * 2)
    assert report.n_files == 2 * 4  # three PNGs and point_info per view
    with pytest.raises(SynthError, match="unknown Taskonomy domain 'nope'"):
        write_taskonomy(tmp_path, n=1, size=16, seed=0, domains=["nope"])
    with pytest.raises(SynthError, match="n=0"):
        write_taskonomy(tmp_path, n=0, size=16, seed=0)
    with pytest.raises(SynthError, match="size"):
        write_taskonomy(tmp_path, n=1, size=4, seed=0)


# --------------------------------------------------------------------------- geometry


def test_euclidean_depth_is_the_z_buffer_depth_over_the_ray_cosine(root):
    for i in range(N):
        z, valid = depth_m(root, "depth_zbuffer", i)
        e, _ = depth_m(root, "depth_euclidean", i)
        assert (e[valid] >= z[valid]).all()
        stretch = np.linalg.norm(camera_rays(info(root, i)), axis=-1)
        # both files are rounded to 1/512 m: allow one unit plus its stretch
        np.testing.assert_allclose(e[valid], (z * stretch)[valid], atol=1.5 / DEPTH_UNITS_PER_M)
        c = PX // 2
        assert abs(e[c, c] - z[c, c]) <= 2.0 / DEPTH_UNITS_PER_M


def test_normals_are_unit_and_reshading_is_lambert_under_the_scene_light(root):
    for i in range(N):
        meta = info(root, i)
        valid = read(root, "depth_zbuffer", i) != 65535
        n = get_task("taskonomy", "normal").decode(read(root, "normal", i)).target
        n = n.permute(1, 2, 0).numpy()[valid]
        np.testing.assert_allclose(np.linalg.norm(n, axis=1), 1.0, atol=0.015)
        light = np.array(meta["light_direction_camera"])
        ambient = meta["ambient"]
        expected = ambient + (1 - ambient) * np.clip(n @ light, 0, None)
        shade = read(root, "reshading", i).astype(float) / 255.0
        assert (shade[..., 0] == shade[..., 1]).all() and (shade[..., 0] == shade[..., 2]).all()
        got = shade[..., 0][valid]
        np.testing.assert_allclose(got, expected, atol=0.03)
        if got.std() > 0.01:
            assert np.corrcoef(got, expected)[0, 1] > 0.95
        # a plane (one normal code) has one shading value
        codes = read(root, "normal", i)[valid]
        values, counts = np.unique(codes, axis=0, return_counts=True)
        plane = (codes == values[counts.argmax()]).all(axis=1)
        assert np.ptp(got[plane]) <= 1 / 255 + 1e-9


def test_background_is_the_axis_aligned_room_and_several_classes_occur(root):
    classes = set()
    for i in range(N):
        seg = read(root, "segment_semantic", i)
        classes |= set(np.unique(seg).tolist())
        assert (seg == 1).mean() > 0.2  # walls, floor and ceiling are in every view
        meta = info(root, i)
        n_cam = read(root, "normal", i).astype(float) / 255.0 * 2.0 - 1.0
        n_world = n_cam @ np.array(meta["camera_rotation_to_world"]).T
        axis_aligned = np.abs(n_world).max(axis=-1) > 0.97
        assert axis_aligned[seg == 1].all()
    assert 1 in classes and len(classes - {0, 1}) >= 5


def test_occlusion_edges_lie_on_depth_jumps_and_nowhere_on_smooth_surfaces(root):
    strong_seen = 0
    for i in range(N):
        points, valid = world_points(root, i)
        edge = read(root, "edge_occlusion", i).astype(float)
        # largest 3-D distance from each pixel to a valid 4-neighbour
        jump = np.zeros((PX, PX))
        for axis in (0, 1):
            d = np.linalg.norm(np.diff(points, axis=axis), axis=-1)
            d[~(np.take(valid, range(1, PX), axis) & np.take(valid, range(PX - 1), axis))] = 0
            pad = [(0, 0), (0, 0)]
            pad[axis] = (1, 0)
            jump = np.maximum(jump, np.pad(d, pad))
            pad[axis] = (0, 1)
            jump = np.maximum(jump, np.pad(d, pad))
        strong = edge >= 0.5 * EDGE_OCCLUSION_PER_M  # a gap of half a metre or more
        strong_seen += int(strong.sum())
        assert (jump[strong] > 0.4).all()
        # flat pixels: one normal over the 3x3 neighbourhood, all of it on that plane
        codes = read(root, "normal", i)
        rot = np.array(info(root, i)["camera_rotation_to_world"])
        n_world = (codes.astype(float) / 255.0 * 2.0 - 1.0) @ rot.T
        centre = (slice(1, PX - 1), slice(1, PX - 1))
        flat = valid[centre].copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                near = (slice(1 + dy, PX - 1 + dy), slice(1 + dx, PX - 1 + dx))
                flat &= (codes[near] == codes[centre]).all(axis=-1) & valid[near]
                off_plane = np.einsum("ijk,ijk->ij", n_world[centre], points[near] - points[centre])
                flat &= np.abs(off_plane) < 0.05
        assert flat.sum() > 100
        assert (edge[centre][flat] == 0).all()
    assert strong_seen > 20


def test_curvature_is_inverse_radius_on_spheres_and_zero_on_boxes(root):
    sphere_pixels = 0
    for i in range(N):
        view = render_view(SEED, i, PX)
        curv = curvature_from_code(read(root, "principal_curvature", i)[..., :2])
        for index, part in enumerate(view.scene.parts):
            mask = view.frame.part == index
            if isinstance(part.shape, Sphere) and mask.any():
                sphere_pixels += int(mask.sum())
                np.testing.assert_allclose(curv[mask], 1.0 / part.shape.radius, atol=0.1)
            if isinstance(part.shape, Box):
                assert (curv[mask] == 0).all()
    assert sphere_pixels > 20


def test_keypoint_maps_peak_at_corners(root):
    near_corner, overall = [], []
    for i in range(N):
        view = render_view(SEED, i, PX)
        corners = view.scene.keypoints
        points, valid = world_points(root, i)
        heat = read(root, "keypoints3d", i).astype(float)
        hot = heat > 0.9 * KEYPOINTS3D_PEAK
        dist = np.linalg.norm(points[hot][:, None] - corners[None], axis=-1).min(axis=1)
        # 0.9 of the peak is reached within σ·sqrt(2 ln(1/0.9)) of a corner (plus depth rounding)
        assert (dist < KEYPOINTS3D_SIGMA_M * np.sqrt(2 * np.log(1 / 0.9)) + 0.02).all()
        # 2-D keypoints: stronger at visible corners than on average
        u, v, z = view.scene.camera.project(corners)
        inside = (z > 0.1) & (u >= 0) & (u < PX) & (v >= 0) & (v < PX)
        ui, vi = np.floor(u[inside]).astype(int), np.floor(v[inside]).astype(int)
        zbuf, _ = depth_m(root, "depth_zbuffer", i)
        seen = zbuf[vi, ui] >= z[inside] - 0.05
        k2 = read(root, "keypoints2d", i).astype(float)
        near_corner += k2[vi[seen], ui[seen]].tolist()
        overall.append(k2.mean())
    assert np.mean(near_corner) > 1.5 * np.mean(overall)
