"""TaskonomyDataset and the PNG reading under it, on small hand-made files in each layout."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tasks.errors import DataError
from tasks.reading import read_png
from tasks.registry import get_task, parse_tasks
from tasks.taskonomy_data import TaskonomyDataset
from tests.tasks.pngs import save

torch.set_num_threads(1)

PX = 32
INVALID_COLS = 8  # the left columns of every depth map are beyond 16 m
SEG_CLASSES = (0, 1, 3, 7)
ALL = "segment_semantic,depth_zbuffer,normal,reshading,edge_texture,autoencoder"


def view_arrays(seed: int) -> dict[str, np.ndarray]:
    """Raw file contents of one view, with invalid depth where the other labels say so."""
    rng = np.random.default_rng(seed)
    depth = rng.integers(1500, 5000, (PX, PX)).astype(np.uint16)
    depth[:, :INVALID_COLS] = 65535
    depth[0, PX - 1] = 8192  # exactly at the threshold: invalid
    normal = rng.integers(0, 256, (PX, PX, 3)).astype(np.uint8)
    normal[:, :INVALID_COLS] = 128
    euclidean = rng.integers(1500, 5000, (PX, PX)).astype(np.uint16)
    euclidean[-4:] = 65535  # its own invalid rows: what the taskonomy convention masks with
    shade = rng.integers(0, 256, (PX, PX)).astype(np.uint8)
    seg = np.array(SEG_CLASSES, dtype=np.uint8)[rng.integers(0, len(SEG_CLASSES), (4, 4))]
    return {
        "rgb": rng.integers(0, 256, (PX, PX, 3)).astype(np.uint8),
        "depth_zbuffer": depth,
        "depth_euclidean": euclidean,
        "normal": normal,
        "reshading": np.stack([shade] * 3, axis=-1),
        "edge_texture": rng.integers(0, 4000, (PX, PX)).astype(np.uint16),
        "segment_semantic": np.kron(seg, np.ones((PX // 4, PX // 4), dtype=np.uint8)),
    }


def folder(root: Path, layout: str, building: str, domain: str) -> Path:
    return {
        "building_first": root / building / domain,
        "domain_first": root / domain / building,
        "omnidata": root / domain / "taskonomy" / building,
        "flat": root / domain,
    }[layout]


def suffix(domain: str) -> str:
    return "segmentsemantic" if domain == "segment_semantic" else domain


def write_taskonomy(
    root: Path, layout: str, buildings: tuple[str, ...], views: int = 2
) -> dict[tuple[str, str], dict[str, np.ndarray]]:
    """Write ``views`` views per building; returns the raw arrays by (building, stem)."""
    written = {}
    for b, building in enumerate(buildings):
        for v in range(views):
            stem = f"point_{v + 1}_view_{v % 2}"
            arrays = view_arrays(seed=100 * b + v)
            for domain, arr in arrays.items():
                name = f"{stem}_domain_{suffix(domain)}.png"
                save(folder(root, layout, building, domain) / name, arr)
            written[(building, stem)] = arrays
    return written


def label_file(root: Path, layout: str, building: str, stem: str, domain: str) -> Path:
    return folder(root, layout, building, domain) / f"{stem}_domain_{suffix(domain)}.png"


@pytest.fixture
def sample_root(tmp_path: Path) -> tuple[Path, dict]:
    root = tmp_path / "data"
    return root, write_taskonomy(root, "building_first", ("allensville",))


# --------------------------------------------------------------------------- read_png


def test_read_png_keeps_bit_depths(tmp_path: Path) -> None:
    deep = np.array([[0, 1, 8191], [8192, 40000, 65535]], dtype=np.uint16)
    path = save(tmp_path / "deep.png", deep)
    assert Image.open(path).mode.startswith("I")
    got = read_png(path)
    assert got.dtype == np.uint16 and np.array_equal(got, deep)

    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    assert np.array_equal(read_png(save(tmp_path / "rgb.png", rgb)), rgb)

    bits = np.array([[True, False], [False, True]])
    mask = tmp_path / "mask.png"
    Image.fromarray(bits).convert("1").save(mask, bits=1)
    got = read_png(mask)
    assert got.dtype == bool and np.array_equal(got, bits)
    got.fill(False)  # readers may modify what they get: the array is theirs


def test_read_png_refuses_truncated_and_non_png_files(tmp_path: Path) -> None:
    good = save(tmp_path / "good.png", np.zeros((PX, PX, 3), dtype=np.uint8) + 7)
    cut = tmp_path / "cut.png"
    cut.write_bytes(good.read_bytes()[:60])
    with pytest.raises(DataError, match="corrupt or truncated") as err:
        read_png(cut)
    assert str(cut) in str(err.value)

    jpeg = tmp_path / "photo.png"
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(jpeg, format="JPEG")
    with pytest.raises(DataError, match="not a PNG") as err:
        read_png(jpeg)
    assert str(jpeg) in str(err.value) and "corrupt" not in str(err.value)

    with pytest.raises(DataError, match="missing file"):
        read_png(tmp_path / "absent.png")


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("layout", ["building_first", "domain_first", "omnidata", "flat"])
def test_every_layout_gives_the_same_samples(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "cauthron"
    buildings = ("cauthron",) if layout == "flat" else ("beechwood", "allensville")
    written = write_taskonomy(root, layout, buildings)
    ds = TaskonomyDataset(root, parse_tasks("taskonomy", ALL), split=None, size=PX)

    assert ds.layout.kind == layout
    assert len(ds) == len(written)
    ids = [ds[i]["id"] for i in range(len(ds))]
    assert ids == sorted(f"{b}/{s}" for b, s in written)
    for i, sample_id in enumerate(ids):
        building, stem = sample_id.split("/")
        raw = written[(building, stem)]
        sample = ds[i]
        image = sample["image"]
        assert image.dtype == torch.float32 and image.shape == (3, PX, PX)
        assert torch.equal(image, torch.from_numpy(raw["rgb"]).permute(2, 0, 1) / 255.0)
        targets, masks = sample["targets"], sample["masks"]
        assert set(targets) == set(masks) == set(ALL.split(","))
        for name, mask in masks.items():
            assert mask.dtype == torch.bool and mask.shape == (1, PX, PX), name

        depth = targets["depth_zbuffer"]
        valid = torch.from_numpy(raw["depth_zbuffer"] < 8192)[None]
        assert depth.dtype == torch.float32 and depth.shape == (1, PX, PX)
        expected = (torch.from_numpy(raw["depth_zbuffer"].astype(np.float32))[None] - 1500) / 1000
        assert torch.allclose(depth[valid], expected[valid])
        assert torch.equal(masks["depth_zbuffer"], valid)

        seg = targets["segment_semantic"]
        assert seg.dtype == torch.int64 and seg.shape == (1, PX, PX)
        assert torch.equal(seg[0], torch.from_numpy(raw["segment_semantic"]).long())
        assert targets["normal"].shape == (3, PX, PX)
        assert targets["normal"].min() >= -1 and targets["normal"].max() <= 1
        assert targets["reshading"].shape == (1, PX, PX)
        assert torch.equal(targets["autoencoder"], image)


def test_split_picks_tiny_buildings_that_are_present(tmp_path: Path) -> None:
    root = tmp_path / "data"
    write_taskonomy(root, "domain_first", ("allensville", "collierville", "elsewhere"), views=1)
    tasks = [get_task("taskonomy", "d")]

    def buildings_of(**kw) -> set[str]:
        ds = TaskonomyDataset(root, tasks, size=PX, **kw)
        return {ds[i]["id"].split("/")[0] for i in range(len(ds))}

    assert buildings_of(split="train") == {"allensville"}
    assert buildings_of(split="val") == {"collierville"}
    assert buildings_of(split="test") == set()
    assert buildings_of(split=None) == {"allensville", "collierville", "elsewhere"}
    assert buildings_of(split="train", buildings=["elsewhere"]) == {"elsewhere"}
    with pytest.raises(DataError, match="unknown Taskonomy split"):
        TaskonomyDataset(root, tasks, split="holdout")
    with pytest.raises(DataError, match="unknown Taskonomy split set 'huge'; known: tiny"):
        TaskonomyDataset(root, tasks, split="train", split_set="huge")
    assert buildings_of(split="train", split_set="tiny") == {"allensville"}
    with pytest.raises(DataError, match="nowhere"):
        TaskonomyDataset(root, tasks, buildings=["nowhere"])


# --------------------------------------------------------------------------- masks


def test_invalid_depth_is_masked_in_depth_normal_and_reshading(sample_root) -> None:
    root, written = sample_root
    ds = TaskonomyDataset(root, parse_tasks("taskonomy", ALL), split="train", size=PX)
    raw = written[("allensville", "point_1_view_0")]
    masks = ds[0]["masks"]
    valid = torch.from_numpy(raw["depth_zbuffer"] < 8192)[None]
    assert not valid[..., :INVALID_COLS].any() and valid[..., INVALID_COLS:].sum() == PX * 24 - 1
    for name in ("depth_zbuffer", "normal", "reshading"):
        assert torch.equal(masks[name], valid), name
    for name in ("segment_semantic", "edge_texture", "autoencoder"):
        assert masks[name].all(), name


def test_mask_domain_file_replaces_depth_validity(sample_root) -> None:
    root, written = sample_root
    stem = "point_1_view_0"
    keep = np.zeros((PX, PX), dtype=bool)
    keep[: PX // 2] = True  # top half valid, whatever depth says
    path = folder(root, "building_first", "allensville", "mask") / f"{stem}_domain_mask.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(keep).convert("1").save(path, bits=1)
    ds = TaskonomyDataset(root, parse_tasks("taskonomy", "normal,depth_zbuffer"), size=PX)
    masks = ds[0]["masks"]
    assert torch.equal(masks["normal"][0], torch.from_numpy(keep))
    depth_valid = written[("allensville", stem)]["depth_zbuffer"] < 8192
    assert torch.equal(masks["depth_zbuffer"][0], torch.from_numpy(keep & depth_valid))
    second = ds[1]["masks"]  # no mask file for this view: depth decides
    assert torch.equal(second["normal"], second["depth_zbuffer"])
    assert not second["normal"][..., :INVALID_COLS].any()


def test_taskonomy_convention_reads_log_depth_valid_below_64500(sample_root) -> None:
    root, written = sample_root
    tasks = parse_tasks("taskonomy", "depth_zbuffer,normal,autoencoder", convention="taskonomy")
    sample = TaskonomyDataset(root, tasks, size=PX)[0]
    raw = written[("allensville", "point_1_view_0")]["depth_zbuffer"]
    valid = torch.from_numpy(raw < 64500)[None]
    assert valid[0, 0, PX - 1]  # 8192: invalid for Standley, valid here
    # the depth-masked tasks are masked where depth_euclidean is invalid, as MTRobust
    euclid = written[("allensville", "point_1_view_0")]["depth_euclidean"]
    euclid_valid = torch.from_numpy(euclid < 64500)[None]
    assert not euclid_valid[..., -4:, :].any()
    assert torch.equal(sample["masks"]["normal"], euclid_valid)
    assert torch.equal(sample["masks"]["depth_zbuffer"], valid & euclid_valid)
    expected = torch.log1p(torch.from_numpy(raw.astype(np.float32)))[None] / math.log(65536)
    assert torch.allclose(sample["targets"]["depth_zbuffer"][valid], expected[valid])
    assert torch.allclose(sample["targets"]["autoencoder"], sample["image"] * 2 - 1)


def test_tasks_of_two_conventions_are_refused(sample_root) -> None:
    root, _ = sample_root
    mixed = [get_task("taskonomy", "d"), get_task("taskonomy", "n", convention="taskonomy")]
    with pytest.raises(DataError, match="conventions standley, taskonomy"):
        TaskonomyDataset(root, mixed, size=PX)


# --------------------------------------------------------------------------- resizing


@pytest.mark.parametrize("size", [16, 24, 48])
def test_resized_labels_keep_classes_and_valid_values(tmp_path: Path, size: int) -> None:
    root = tmp_path / "data"
    written = write_taskonomy(root, "building_first", ("allensville",), views=1)
    depth_file = label_file(
        root, "building_first", "allensville", "point_1_view_0", "depth_zbuffer"
    )
    flat = np.full((PX, PX), 2500, dtype=np.uint16)  # 1.0 after decoding
    flat[:, :INVALID_COLS] = 65535  # 64.0 after decoding: must not bleed into valid pixels
    save(depth_file, flat)
    ds = TaskonomyDataset(root, parse_tasks("taskonomy", ALL), size=size)
    sample = ds[0]
    for name, target in sample["targets"].items():
        assert target.shape[-2:] == (size, size), name
        assert sample["masks"][name].shape == (1, size, size), name
    seg = sample["targets"]["segment_semantic"]
    original = set(np.unique(written[("allensville", "point_1_view_0")]["segment_semantic"]))
    assert seg.dtype == torch.int64 and set(seg.unique().tolist()) <= original
    assert len(original) > 1

    depth, valid = sample["targets"]["depth_zbuffer"], sample["masks"]["depth_zbuffer"]
    assert valid.any() and not valid.all()
    assert torch.allclose(depth[valid], torch.ones(()), atol=1e-5)
    assert torch.equal(sample["masks"]["normal"], valid)
    image = sample["image"]
    assert image.min() >= 0 and image.max() <= 1
    normal = sample["targets"]["normal"]
    assert normal.min() >= -1 - 1e-5 and normal.max() <= 1 + 1e-5


def test_segmentation_file_with_underscored_suffix_is_accepted(sample_root) -> None:
    root, written = sample_root
    stem = "point_1_view_0"
    old = label_file(root, "building_first", "allensville", stem, "segment_semantic")
    old.rename(old.with_name(f"{stem}_domain_segment_semantic.png"))
    ds = TaskonomyDataset(root, [get_task("taskonomy", "s")], size=PX)
    expected = written[("allensville", stem)]["segment_semantic"]
    assert torch.equal(ds[0]["targets"]["segment_semantic"][0], torch.from_numpy(expected).long())


def test_cache_keeps_samples_and_uncached_reads_agree(sample_root) -> None:
    root, _ = sample_root
    tasks = parse_tasks("taskonomy", "sdn")
    cached = TaskonomyDataset(root, tasks, size=16)
    fresh = TaskonomyDataset(root, tasks, size=16, cache=False)
    assert cached[1] is cached[1]
    assert fresh[1] is not fresh[1]
    for name in ("segment_semantic", "depth_zbuffer", "normal"):
        assert torch.equal(cached[1]["targets"][name], fresh[1]["targets"][name])
        assert torch.equal(cached[1]["masks"][name], fresh[1]["masks"][name])


# --------------------------------------------------------------------------- errors


def test_missing_label_file_names_the_file(sample_root) -> None:
    root, _ = sample_root
    gone = label_file(root, "building_first", "allensville", "point_2_view_1", "normal")
    gone.unlink()
    ds = TaskonomyDataset(root, [get_task("taskonomy", "n")], size=PX)
    ds[0]  # the other view is complete
    with pytest.raises(DataError, match="lacks domain normal") as err:
        ds[1]
    assert str(gone) in str(err.value)


def test_truncated_label_names_the_file(sample_root) -> None:
    root, _ = sample_root
    bad = label_file(root, "building_first", "allensville", "point_1_view_0", "depth_zbuffer")
    bad.write_bytes(bad.read_bytes()[:100])
    ds = TaskonomyDataset(root, [get_task("taskonomy", "e")], size=PX)
    ds[0]  # edge_texture needs no depth
    with pytest.raises(DataError) as err:
        TaskonomyDataset(root, [get_task("taskonomy", "n")], size=PX)[0]
    assert str(bad) in str(err.value)


def test_eight_bit_file_where_sixteen_expected_names_the_file(sample_root) -> None:
    root, _ = sample_root
    bad = label_file(root, "building_first", "allensville", "point_1_view_0", "edge_texture")
    save(bad, np.full((PX, PX), 9, dtype=np.uint8))
    ds = TaskonomyDataset(root, [get_task("taskonomy", "e")], size=PX)
    with pytest.raises(DataError, match="16-bit") as err:
        ds[0]
    assert str(bad) in str(err.value)


def test_missing_domain_folder_fails_at_construction(sample_root) -> None:
    root, _ = sample_root
    with pytest.raises(DataError, match="keypoints2d") as err:
        TaskonomyDataset(root, parse_tasks("taskonomy", "dk"), size=PX)
    assert str(root / "allensville" / "keypoints2d") in str(err.value)


def test_root_without_rgb_files_names_root_and_layouts(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for root in (empty, tmp_path / "absent"):
        with pytest.raises(DataError, match="layouts") as err:
            TaskonomyDataset(root, [get_task("taskonomy", "d")], split=None)
        assert str(root) in str(err.value)
    (empty / "allensville" / "rgb").mkdir(parents=True)
    with pytest.raises(DataError, match="domain_rgb.png files") as err:
        TaskonomyDataset(empty, [get_task("taskonomy", "A")], split=None)
    assert str(empty) in str(err.value)


def test_cityscapes_task_is_refused(sample_root) -> None:
    root, _ = sample_root
    with pytest.raises(DataError, match="not a taskonomy one"):
        TaskonomyDataset(root, [get_task("cityscapes", "depth")])
