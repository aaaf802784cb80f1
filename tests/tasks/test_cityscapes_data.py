"""CityscapesDataset on small hand-made files in the official layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from tasks.cityscapes_data import CityscapesDataset, frame_size
from tasks.errors import DataError
from tasks.registry import parse_tasks
from tests.tasks.pngs import save

torch.set_num_threads(1)

W, H = 32, 16
ALL = parse_tasks("cityscapes", "sdA")
FRAMES = (("aachen", "aachen_000000_000019"), ("bremen", "bremen_000001_000002"))


def file(root: Path, domain: str, frame: tuple[str, str], suffix: str, split="train") -> Path:
    city, name = frame
    return root / domain / split / city / f"{name}_{suffix}"


def write_cityscapes(root: Path, split: str = "train") -> dict[str, dict[str, np.ndarray]]:
    """Two frames; disparity 0 (unmeasured) in the left quarter, ids 0..33 and 255."""
    written = {}
    for i, frame in enumerate(FRAMES):
        rng = np.random.default_rng(i)
        disparity = rng.integers(1, 30000, (H, W)).astype(np.uint16)
        disparity[:, : W // 4] = 0
        arrays = {
            "image": rng.integers(0, 256, (H, W, 3)).astype(np.uint8),
            "labels": rng.integers(0, 34, (H, W)).astype(np.uint8),
            "disparity": disparity,
        }
        arrays["labels"][0, 0] = 255
        save(file(root, "leftImg8bit", frame, "leftImg8bit.png", split), arrays["image"])
        save(file(root, "gtFine", frame, "gtFine_labelIds.png", split), arrays["labels"])
        save(file(root, "disparity", frame, "disparity.png", split), disparity)
        written[frame[1]] = arrays
    return written


@pytest.fixture
def city(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "cityscapes"
    return root, write_cityscapes(root)


def test_frame_size_reads_width_height_or_height() -> None:
    assert frame_size((680, 340)) == (340, 680)
    assert frame_size(16) == frame_size(np.int64(16)) == (16, 32)


def test_samples_at_file_resolution_decode_exactly(city) -> None:
    root, written = city
    ds = CityscapesDataset(root, ALL, split="train", size=(W, H))
    assert len(ds) == 2
    assert [ds[i]["id"] for i in range(2)] == [f"{c}/{n}" for c, n in FRAMES]
    for i, (_, name) in enumerate(FRAMES):
        raw, sample = written[name], ds[i]
        image = sample["image"]
        assert image.dtype == torch.float32 and image.shape == (3, H, W)
        assert torch.equal(image, torch.from_numpy(raw["image"]).permute(2, 0, 1) / 255.0)
        assert torch.equal(sample["targets"]["autoencoder"], image)

        seg = sample["targets"]["segment_semantic"]
        assert seg.dtype == torch.int64 and seg.shape == (1, H, W)
        ids = raw["labels"]
        assert seg[0, 0, 0] == 255
        assert torch.equal(seg[0][torch.from_numpy(ids == 7)], torch.zeros(int((ids == 7).sum())))
        assert torch.equal(
            seg[0][torch.from_numpy(ids == 26)], torch.full((int((ids == 26).sum()),), 13)
        )
        assert (seg[0][torch.from_numpy(ids == 9)] == 255).all()

        depth, valid = sample["targets"]["depth"], sample["masks"]["depth"]
        assert depth.dtype == torch.float32 and depth.shape == (1, H, W)
        v = raw["disparity"].astype(np.float64)
        expected_valid = v > 0
        assert torch.equal(valid[0], torch.from_numpy(expected_valid))
        expected = v[expected_valid] / 1000  # MTRobust's depth_label / 1000.
        assert np.allclose(depth[0].numpy()[expected_valid], expected, rtol=1e-6)
        for name in ("segment_semantic", "autoencoder"):
            mask = sample["masks"][name]
            assert mask.dtype == torch.bool and mask.shape == (1, H, W) and mask.all()


@pytest.mark.parametrize("size", [8, (20, 12), 24])
def test_resizing_keeps_train_ids_and_never_mixes_in_unmeasured_depth(city, size) -> None:
    root, _ = city
    frame = FRAMES[0]
    flat = np.full((H, W), 1025, dtype=np.uint16)  # depth 1.025 wherever measured
    flat[:, : W // 4] = 0  # unmeasured: 0 would drag a plain bilinear resize towards 0
    save(file(root, "disparity", frame, "disparity.png"), flat)
    ds = CityscapesDataset(root, ALL, size=size)
    height, width = frame_size(size)
    sample = ds[0]
    assert sample["image"].shape == (3, height, width)
    for name in ("segment_semantic", "depth", "autoencoder"):
        assert sample["targets"][name].shape[-2:] == (height, width)
        assert sample["masks"][name].shape == (1, height, width)
    seg = sample["targets"]["segment_semantic"]
    assert set(seg.unique().tolist()) <= set(range(19)) | {255}
    depth, valid = sample["targets"]["depth"], sample["masks"]["depth"]
    assert valid.any() and not valid.all() and not valid[..., 0].any()
    assert torch.allclose(depth[valid], torch.tensor(1.025))


def test_cache_returns_the_same_sample(city) -> None:
    root, _ = city
    cached = CityscapesDataset(root, ALL, size=8)
    assert cached[1] is cached[1]
    fresh = CityscapesDataset(root, ALL, size=8, cache=False)
    assert torch.equal(fresh[1]["targets"]["depth"], cached[1]["targets"]["depth"])


# --------------------------------------------------------------------------- errors


def test_eight_bit_disparity_names_the_file(city) -> None:
    root, _ = city
    bad = save(file(root, "disparity", FRAMES[0], "disparity.png"), np.ones((H, W), np.uint8))
    with pytest.raises(DataError, match="16-bit") as err:
        CityscapesDataset(root, ALL, size=8)[0]
    assert str(bad) in str(err.value)


def test_truncated_and_missing_labels_name_the_file(city) -> None:
    root, _ = city
    cut = file(root, "gtFine", FRAMES[0], "gtFine_labelIds.png")
    cut.write_bytes(cut.read_bytes()[:50])
    gone = file(root, "gtFine", FRAMES[1], "gtFine_labelIds.png")
    gone.unlink()
    ds = CityscapesDataset(root, ALL, size=8)
    for index, path in ((0, cut), (1, gone)):
        with pytest.raises(DataError) as err:
            ds[index]
        assert str(path) in str(err.value)


def test_missing_folders_fail_at_construction(city, tmp_path: Path) -> None:
    root, _ = city
    with pytest.raises(DataError, match="image folder") as err:
        CityscapesDataset(root, ALL, split="val")
    assert str(root / "leftImg8bit" / "val") in str(err.value)
    other = tmp_path / "no-disparity"
    write_cityscapes(other)
    shutil.rmtree(other / "disparity")
    with pytest.raises(DataError, match="missing folder") as err:
        CityscapesDataset(other, ALL)
    assert str(other / "disparity" / "train") in str(err.value)
    assert len(CityscapesDataset(other, parse_tasks("cityscapes", "sA"))) == 2


def test_taskonomy_task_is_refused(city) -> None:
    root, _ = city
    with pytest.raises(DataError, match="not a cityscapes one"):
        CityscapesDataset(root, parse_tasks("taskonomy", "d"))
