"""Augmentation: one crop window and one flip for image, targets and masks, seeded."""

from __future__ import annotations

import pytest
import torch

from mtsweep.errors import MtsweepError
from tasks.augment import Augment, AugmentedDataset, sample_generator
from tasks.registry import parse_tasks

H, W = 8, 12


def coordinate_sample() -> dict:
    """Every tensor encodes each pixel's (row, col), so alignment can be checked anywhere."""
    rows = torch.arange(H, dtype=torch.float32).view(H, 1).expand(H, W)
    cols = torch.arange(W, dtype=torch.float32).view(1, W).expand(H, W)
    index = rows * W + cols
    return {
        "image": torch.stack([rows, cols, torch.zeros(H, W)]) / 100,
        "targets": {
            "normal": torch.stack([cols / W, rows / H, torch.ones(H, W)]),
            "depth_zbuffer": index.unsqueeze(0),
            "segment_semantic": index.long().unsqueeze(0),
        },
        "masks": {
            "normal": ((rows + cols) % 2 == 0).unsqueeze(0),
            "depth_zbuffer": (cols < 5).unsqueeze(0),
            "segment_semantic": torch.ones(1, H, W, dtype=torch.bool),
        },
        "id": "b/point_0_view_0",
    }


def flipped_and_not(augment: Augment) -> tuple[dict, dict]:
    """Outputs of two seeds, one that mirrors and one that does not."""
    seen = {}
    for seed in range(64):
        out = augment(coordinate_sample(), torch.Generator().manual_seed(seed))
        mirrored = bool(out["image"][1, 0, 0] > out["image"][1, 0, -1])
        seen.setdefault(mirrored, out)
        if len(seen) == 2:
            return seen[True], seen[False]
    raise AssertionError("64 seeds without both outcomes")


def test_for_tasks_negates_the_normals_x_channel_only() -> None:
    tasks = parse_tasks("taskonomy", "snd")
    assert Augment.for_tasks(tasks, flip=True).negate_on_flip == {"normal": (0,)}
    cityscapes = parse_tasks("cityscapes", "sdA")
    assert Augment.for_tasks(cityscapes, crop=4).negate_on_flip == {}


def test_flip_mirrors_every_tensor_and_negates_normal_x() -> None:
    augment = Augment.for_tasks(parse_tasks("taskonomy", "snd"), flip=True)
    original = coordinate_sample()
    mirrored, kept = flipped_and_not(augment)
    for key in ("targets", "masks"):
        for name, tensor in original[key].items():
            assert torch.equal(kept[key][name], tensor), (key, name)
            assert mirrored[key][name].dtype == tensor.dtype
    assert torch.equal(mirrored["image"], original["image"].flip(-1))
    normal = original["targets"]["normal"].flip(-1)
    assert torch.equal(mirrored["targets"]["normal"][0], -normal[0])
    assert torch.equal(mirrored["targets"]["normal"][1:], normal[1:])
    for name in ("depth_zbuffer", "segment_semantic"):
        assert torch.equal(mirrored["targets"][name], original["targets"][name].flip(-1))
    for name, mask in original["masks"].items():
        assert torch.equal(mirrored["masks"][name], mask.flip(-1)), name
    assert mirrored["id"] == original["id"]


def test_crop_keeps_image_targets_and_masks_aligned() -> None:
    augment = Augment(crop=(4, 6), flip=True, negate_on_flip={"normal": (0,)})
    for seed in range(10):
        out = augment(coordinate_sample(), torch.Generator().manual_seed(seed))
        rows = (out["image"][0] * 100).round()
        cols = (out["image"][1] * 100).round()
        assert out["image"].shape == (3, 4, 6)
        index = rows * W + cols
        assert torch.equal(out["targets"]["depth_zbuffer"][0], index)
        assert torch.equal(out["targets"]["segment_semantic"][0], index.long())
        assert torch.equal(out["masks"]["normal"][0], (rows + cols) % 2 == 0)
        assert torch.equal(out["masks"]["depth_zbuffer"][0], cols < 5)
        mirrored = bool(cols[0, 0] > cols[0, -1])
        sign = -1.0 if mirrored else 1.0
        assert torch.allclose(out["targets"]["normal"][0], sign * cols / W)
        assert torch.allclose(out["targets"]["normal"][1], rows / H)


def test_square_crop_and_a_crop_larger_than_the_sample() -> None:
    out = Augment(crop=5)(coordinate_sample(), torch.Generator().manual_seed(0))
    assert out["image"].shape == (3, 5, 5) and out["masks"]["normal"].shape == (1, 5, 5)
    with pytest.raises(MtsweepError, match="larger than the 8×12"):
        Augment(crop=9)(coordinate_sample(), torch.Generator().manual_seed(0))


def test_same_seed_same_output_and_the_input_is_left_alone() -> None:
    augment = Augment(crop=(5, 7), flip=True)
    sample = coordinate_sample()
    outputs = [augment(sample, torch.Generator().manual_seed(s)) for s in (3, 3, 4, 5, 6)]
    assert torch.equal(outputs[0]["image"], outputs[1]["image"])
    assert any(not torch.equal(outputs[0]["image"], o["image"]) for o in outputs[2:])
    assert torch.equal(sample["image"], coordinate_sample()["image"])
    outputs[0]["targets"]["depth_zbuffer"].fill_(-1)  # outputs own their memory
    assert (sample["targets"]["depth_zbuffer"] >= 0).all()


def test_augmented_dataset_depends_on_seed_epoch_and_index_only() -> None:
    base = [coordinate_sample() for _ in range(4)]
    augment = Augment(crop=(3, 3), flip=True)
    data = AugmentedDataset(base, augment, seed=7)
    first = [data[i]["image"] for i in range(4)]
    again = AugmentedDataset(base, augment, seed=7)
    assert all(torch.equal(again[i]["image"], first[i]) for i in reversed(range(4)))
    data.set_epoch(1)
    assert any(not torch.equal(data[i]["image"], first[i]) for i in range(4))
    assert len(data) == 4
    a = torch.rand(3, generator=sample_generator(7, 0, 1))
    assert not torch.equal(a, torch.rand(3, generator=sample_generator(7, 0, 2)))
    assert torch.equal(a, torch.rand(3, generator=sample_generator(7, 0, 1)))
