"""Target conventions: the same tasks, scaled as Standley or as the original Taskonomy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from tasks.conventions import CONVENTIONS, DEFAULT_CONVENTION
from tasks.labels import SEMSEG_PRIOR_FACTOR
from tasks.registry import DATASETS, get_task, tasks_of


def test_names_and_default() -> None:
    assert tuple(CONVENTIONS) == ("standley", "taskonomy", "mtrobust")
    assert DEFAULT_CONVENTION == "standley"
    assert get_task("taskonomy", "d").convention == "standley"
    assert get_task("taskonomy", "d", convention="taskonomy").convention == "taskonomy"


def test_a_convention_changes_targets_never_channels_names_or_metrics() -> None:
    for dataset in DATASETS:
        for a, b in zip(tasks_of(dataset), tasks_of(dataset, "taskonomy"), strict=True):
            same = ("name", "letter", "channels", "kind", "primary_metric", "folder")
            assert all(getattr(a, k) == getattr(b, k) for k in same), a.name
            assert a.higher_is_better == b.higher_is_better


def test_cityscapes_is_the_same_under_every_convention() -> None:
    for a, b in zip(tasks_of("cityscapes"), tasks_of("cityscapes", "taskonomy"), strict=True):
        assert (a.decode, a.loss, a.target_from_input) == (b.decode, b.loss, b.target_from_input)


def decoded(name: str, convention: str, raw: np.ndarray) -> torch.Tensor:
    return get_task("taskonomy", name, convention=convention).decode(raw).target


def test_depth_two_metres_under_each_convention() -> None:
    raw = np.array([[1024]], dtype=np.uint16)  # 2 m in 1/512 m units
    assert decoded("d", "standley", raw).item() == pytest.approx((1024 - 1500) / 1000)
    assert decoded("D", "taskonomy", raw).item() == pytest.approx(math.log(1025) / math.log(65536))


@pytest.mark.parametrize(
    "name, top", [("edge_texture", 0.08), ("keypoints2d", 0.005), ("keypoints3d", 1.0)]
)
def test_taskonomy_rescales_sixteen_bit_ranges_to_minus_one_one(name: str, top: float) -> None:
    raw = np.array([[0, round(top * 65535)]], dtype=np.uint16)
    assert torch.allclose(
        decoded(name, "taskonomy", raw)[0, 0], torch.tensor([-1.0, 1.0]), atol=1e-4
    )


def test_taskonomy_autoencoder_target_is_the_image_in_minus_one_one() -> None:
    image = torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1)
    target = get_task("taskonomy", "A", convention="taskonomy").target_from_input(image)
    assert target.flatten().tolist() == [-1.0, 0.0, 1.0]


def test_taskonomy_segmentation_loss_weighs_classes_by_the_prior() -> None:
    labels = torch.tensor([[[[1, 5]]]])  # background (class 0 of 17) and class 4
    logits = torch.zeros(1, 18, 1, 2)  # uniform: every pixel costs log 18
    plain = get_task("taskonomy", "s").loss(logits, labels, None)
    weighted = get_task("taskonomy", "s", convention="taskonomy").loss(logits, labels, None)
    assert plain.item() == pytest.approx(math.log(18))
    mean_weight = (SEMSEG_PRIOR_FACTOR[0] + SEMSEG_PRIOR_FACTOR[4]) / 2
    assert weighted.item() == pytest.approx(math.log(18) * mean_weight, rel=1e-5)


def test_mtrobust_reads_curvature_as_one_gray_channel_into_near_constant_targets() -> None:
    rng = np.random.default_rng(0)
    raw = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)  # real k1, k2 codes vary
    real = decoded("principal_curvature", "taskonomy", raw)
    authors = decoded("principal_curvature", "mtrobust", raw)
    assert real.shape == authors.shape == (2, 8, 8)
    assert float(real.std()) > 1.0
    gray = (raw / 255.0) @ np.array([0.2125, 0.7154, 0.0721])  # skimage's rgb2gray
    assert torch.allclose(authors[0], torch.tensor((gray - 123.572) / 31.922, dtype=torch.float32))
    for channel, centre in ((0, -3.87), (1, -5.545)):  # the review's ≈ −3.87 and ≈ −5.54
        values = authors[channel]
        assert abs(float(values.mean()) - centre) < 0.03
        assert float(values.max() - values.min()) <= 0.05
    # every other task decodes as under 'taskonomy'
    for a, b in zip(
        tasks_of("taskonomy", "taskonomy"), tasks_of("taskonomy", "mtrobust"), strict=True
    ):
        if a.name != "principal_curvature":
            assert (a.decode, a.loss, a.target_from_input) == (
                b.decode,
                b.loss,
                b.target_from_input,
            )
