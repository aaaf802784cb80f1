"""The synthetic Cityscapes writer: layout, encodings, determinism and metric depth.

Metric depth read back from disparity and the camera file with the official formula
(cityscapesScripts: d = (v - 1)/256, depth = baseline·fx/d) is compared with the rendered
depth and with the scene's geometry (the road is the plane y = 0 under a camera at the
height the camera file states).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tasks.labels import CITYSCAPES_IGNORE
from tasks.registry import get_task
from tasks.synth import SynthError, write_cityscapes
from tasks.synth.cityscapes_writer import file_path, render_frame, split_of
from tasks.synth.streets import BASELINE, IDS

torch.set_num_threads(1)

N, PX, SEED = 6, 24, 0
FILES = {  # domain -> (suffix, dtype, channels)
    "leftImg8bit": ("leftImg8bit.png", np.uint8, 3),
    "gtFine": ("gtFine_labelIds.png", np.uint8, 1),
    "disparity": ("disparity.png", np.uint16, 1),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cityscapes")
    report = write_cityscapes(out, n=N, size=PX, seed=SEED)
    assert (report.n_images, report.n_files, report.dataset) == (N, 4 * N, "cityscapes")
    return out


def read(root: Path, domain: str, index: int) -> np.ndarray:
    with Image.open(file_path(root, domain, index, FILES[domain][0])) as img:
        arr = np.asarray(img)
    return arr.astype(np.uint16) if arr.dtype.kind in "iu" and arr.dtype.itemsize > 1 else arr


def camera(root: Path, index: int) -> dict:
    return json.loads(file_path(root, "camera", index, "camera.json").read_text())


def depth(root: Path, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Metric depth (m) and its valid pixels, by the official formula."""
    cam = camera(root, index)
    raw = read(root, "disparity", index).astype(float)
    valid = raw > 1
    metres = np.zeros_like(raw)
    metres[valid] = cam["extrinsic"]["baseline"] * cam["intrinsic"]["fx"] * 256 / (raw[valid] - 1)
    return metres, valid


def test_layout_names_and_encodings(root):
    splits = {split_of(i) for i in range(N)}
    assert {s for s, _ in splits} == {"train", "val"}
    assert {c for s, c in splits if s == "train"} == {"aachen", "bochum"}
    assert {c for s, c in splits if s == "val"} == {"frankfurt"}
    for i in range(N):
        split, city = split_of(i)
        for domain, (suffix, dtype, channels) in FILES.items():
            path = file_path(root, domain, i, suffix)
            assert path == root / domain / split / city / f"{city}_{i:06d}_000019_{suffix}"
            arr = read(root, domain, i)
            assert arr.dtype == dtype, domain
            assert arr.shape == ((PX, 2 * PX) if channels == 1 else (PX, 2 * PX, channels))
        cam = camera(root, i)
        assert cam["extrinsic"]["baseline"] == pytest.approx(0.209313)
        assert set(cam["intrinsic"]) >= {"fx", "fy", "u0", "v0"}
        assert cam["intrinsic"]["fx"] == pytest.approx(2262.52 * 2 * PX / 2048)
    assert [p for p in root.rglob(".*")] == []  # no temporary files


def test_splits_are_80_20_and_independent_of_n():
    splits = [split_of(i)[0] for i in range(100)]
    assert splits.count("val") == 20
    assert split_of(1) == ("val", "frankfurt")


def test_same_seed_same_bytes_any_n_and_another_seed_differs(root, tmp_path):
    write_cityscapes(tmp_path / "small", n=3, size=PX, seed=SEED)
    write_cityscapes(tmp_path / "other", n=3, size=PX, seed=SEED + 1)
    for i in range(3):
        for domain, (suffix, _, _) in {**FILES, "camera": ("camera.json", None, 0)}.items():
            ours = file_path(root, domain, i, suffix).read_bytes()
            assert file_path(tmp_path / "small", domain, i, suffix).read_bytes() == ours
        image = file_path(tmp_path / "other", "leftImg8bit", i, "leftImg8bit.png").read_bytes()
        assert image != file_path(root, "leftImg8bit", i, "leftImg8bit.png").read_bytes()


def test_bad_arguments_raise_synth_error(tmp_path):
    with pytest.raises(SynthError, match="n=-1"):
        write_cityscapes(tmp_path, n=-1, size=PX, seed=0)
    with pytest.raises(SynthError, match="seed"):
        write_cityscapes(tmp_path, n=1, size=PX, seed=-2)


def test_depth_from_disparity_and_camera_is_the_rendered_depth(root):
    for i in range(N):
        got, valid = depth(root, i)
        scene, frame = render_frame(SEED, i, PX)
        true = frame.distance * scene.camera.axial
        assert np.array_equal(valid, frame.valid)
        fx = camera(root, i)["intrinsic"]["fx"]
        # disparity is rounded to 1/256 px: compare in disparity space
        disp_got = BASELINE * fx / got[valid]
        disp_true = BASELINE * fx / true[valid]
        assert np.abs(disp_got - disp_true).max() <= 0.5 / 256 + 1e-9


def test_sky_has_no_disparity_and_the_road_lies_on_the_ground_plane(root):
    road_pixels = 0
    for i in range(N):
        labels = read(root, "gtFine", i)
        disparity = read(root, "disparity", i)
        assert np.array_equal(labels == IDS["sky"], disparity == 0)
        assert (labels == IDS["sky"]).any()
        z, valid = depth(root, i)
        cam = camera(root, i)
        k, ext = cam["intrinsic"], cam["extrinsic"]
        rows = np.arange(PX)[:, None] + 0.5
        up = -(rows - k["v0"]) / k["fy"] * z  # camera-frame height of each point
        height = ext["z"] + z * np.sin(ext["pitch"]) + up * np.cos(ext["pitch"])
        road = (labels == IDS["road"]) & valid & (z < 30)
        road_pixels += int(road.sum())
        np.testing.assert_allclose(height[road], 0.0, atol=0.08)
    assert road_pixels > 100


def test_label_ids_map_to_train_ids_and_many_classes_occur(root):
    decode = get_task("cityscapes", "segment_semantic").decode
    seen = set()
    for i in range(N):
        labels = read(root, "gtFine", i)
        train = decode(labels).target[0].numpy()
        assert set(np.unique(labels)) <= set(IDS.values())
        assert (train != CITYSCAPES_IGNORE).all()  # every written id is a training class
        seen |= set(np.unique(labels).tolist())
    names = {name for name, v in IDS.items() if v in seen}
    assert {"road", "sidewalk", "building", "sky", "car"} <= names
    assert len(names) >= 9


def test_the_depth_task_reads_synthetic_disparity_as_the_paper_does(root):
    decode = get_task("cityscapes", "depth").decode
    for i in range(N):
        raw = read(root, "disparity", i)
        decoded = decode(raw)
        assert np.array_equal(decoded.mask[0].numpy(), raw > 0)
        np.testing.assert_allclose(decoded.target[0].numpy(), raw / 1000.0, rtol=1e-6)
