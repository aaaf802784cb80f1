"""Losses and meters: per-sample means over valid pixels, exact dataset metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.losses import l1_loss, make_ce_loss
from tasks.metrics import SegmentationMeter
from tasks.registry import get_task


def test_masked_l1_ignores_invalid_pixels() -> None:
    target = torch.zeros(2, 1, 2, 2)
    pred = torch.tensor([[[[1.0, 3.0], [100.0, 100.0]]], [[[2.0, 2.0], [2.0, 2.0]]]])
    mask = torch.tensor([[[[True, True], [False, False]]], [[[True, True], [True, True]]]])
    assert torch.allclose(l1_loss(pred, target, mask), torch.tensor([2.0, 2.0]))
    assert torch.allclose(l1_loss(pred, target, None), torch.tensor([51.0, 2.0]))
    nothing = torch.zeros_like(mask)
    assert torch.equal(l1_loss(pred, target, nothing), torch.zeros(2))


@pytest.mark.parametrize("ignore", [0, 255])
def test_cross_entropy_ignores_its_ignore_label(ignore: int) -> None:
    classes = 3 if ignore == 255 else 4
    labels = torch.tensor([[[[1, 2], [ignore, ignore]]]])
    logits = torch.zeros(1, classes, 2, 2)
    logits[0, 1, 0, 0] = 5.0  # pixel (0,0) confidently right
    logits[0, 0, 1, :] = 50.0  # ignored pixels: confidently anything
    loss = make_ce_loss(ignore)(logits, labels, None)
    right = -torch.log_softmax(logits[0, :, 0, 0], 0)[1]
    uniform = torch.log(torch.tensor(float(classes)))
    assert torch.allclose(loss, ((right + uniform) / 2).reshape(1))
    masked = make_ce_loss(ignore)(logits, labels, torch.tensor([[[[True, False], [True, True]]]]))
    assert torch.allclose(masked, right.reshape(1))


def test_class_weights_scale_each_pixel_by_its_true_class() -> None:
    labels = torch.tensor([[[[1, 2], [0, 2]]]])
    logits = torch.randn(1, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    per_pixel = -torch.log_softmax(logits, 1).gather(1, labels)[0, 0]
    weighted = make_ce_loss(0, (0.0, 0.5, 8.0))(logits, labels, None)
    expected = (0.5 * per_pixel[0, 0] + 8.0 * per_pixel[0, 1] + 8.0 * per_pixel[1, 1]) / 3
    assert torch.allclose(weighted, expected.reshape(1))


def test_miou_on_a_hand_made_confusion() -> None:
    # 4 labelled pixels of class 1, 2 of class 2, 2 ignored (0); predictions:
    # class 1 -> 1,1,1,2 ; class 2 -> 2,1 ; ignored ones predicted as 3 (must not count).
    labels = torch.tensor([1, 1, 1, 1, 2, 2, 0, 0]).view(1, 1, 2, 4)
    guess = torch.tensor([1, 1, 1, 2, 2, 1, 3, 3])
    logits = torch.nn.functional.one_hot(guess, 4).T.float().view(1, 4, 2, 4)
    meter = SegmentationMeter(num_classes=4, ignore_index=0)
    meter.update(logits, labels, None)
    got = meter.compute()
    # IoU1 = 3 / (4 + 4 - 3) = 0.6 ; IoU2 = 1 / (2 + 2 - 1) = 1/3 ; class 3 never counted
    assert got["miou"] == pytest.approx((0.6 + 1 / 3) / 2 * 100)
    assert got["pixel_acc"] == pytest.approx(4 / 6 * 100)


def test_regression_meter_over_valid_pixels_only() -> None:
    meter = get_task("cityscapes", "depth").make_meter()
    target = torch.tensor([[[[2.0, 4.0, 9.0]]]])
    pred = torch.tensor([[[[3.0, 2.0, 0.0]]]])
    meter.update(pred, target, torch.tensor([[[[True, True, False]]]]))
    got = meter.compute()
    assert got["abs_err"] == pytest.approx(1.5)
    assert got["rel_err"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert got["rmse"] == pytest.approx(np.sqrt((1 + 4) / 2))
    assert np.isnan(get_task("taskonomy", "n").make_meter().compute()["l1"])
