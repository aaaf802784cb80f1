"""The task registry: decoders, losses and meters give the values the paper's setup defines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.registry import (
    CITYSCAPES_ID_TO_TRAIN,
    LabelError,
    SegmentationMeter,
    UnknownTaskError,
    decode_cityscapes_labels,
    decode_curvature,
    decode_normal,
    decode_reshading,
    decode_taskonomy_depth,
    disparity_to_depth,
    get_task,
    l1_loss,
    make_ce_loss,
    parse_tasks,
    tasks_of,
)

torch.set_num_threads(1)


def test_names_letters_and_channels() -> None:
    assert [t.letter for t in tasks_of("taskonomy")] == list("sdDneEkKprA")
    assert [t.name for t in parse_tasks("cityscapes", "sdA")] == [
        "segment_semantic",
        "depth",
        "autoencoder",
    ]
    assert get_task("taskonomy", "D").name == "depth_euclidean"
    assert get_task("taskonomy", "s").channels == 18
    assert get_task("cityscapes", "s").channels == 19
    assert get_task("taskonomy", "s").file_suffix == "segmentsemantic"
    with pytest.raises(UnknownTaskError):
        parse_tasks("taskonomy", "ss")
    with pytest.raises(UnknownTaskError, match="known tasks"):
        get_task("cityscapes", "normal")


# --------------------------------------------------------------------------- decoders


def test_taskonomy_depth_scaling_and_validity() -> None:
    raw = np.array([[1500, 2500], [8191, 8192]], dtype=np.uint16)
    decoded = decode_taskonomy_depth(raw)
    assert torch.allclose(decoded.target, torch.tensor([[[0.0, 1.0], [6.691, 6.692]]]))
    assert torch.equal(decoded.mask, torch.tensor([[[True, True], [True, False]]]))
    with pytest.raises(LabelError, match="16-bit"):
        decode_taskonomy_depth(raw.astype(np.uint8))


def test_eight_bit_decoders() -> None:
    rgb = np.array([[[0, 255, 128]]], dtype=np.uint8)
    assert torch.allclose(
        decode_normal(rgb).target[:, 0, 0], torch.tensor([-1.0, 1.0, 0.0039]), atol=1e-3
    )
    gray = np.full((1, 1, 3), 51, dtype=np.uint8)
    assert torch.allclose(decode_reshading(gray).target, torch.tensor((0.2 - 0.4962) / 0.2846))
    curvature = decode_curvature(np.array([[[132, 127, 0]]], dtype=np.uint8)).target
    assert curvature.shape == (2, 1, 1)
    expected = torch.tensor([(132 / 255 - 0.5175) / 0.1373, (127 / 255 - 0.4987) / 0.0359])
    assert torch.allclose(curvature[:, 0, 0], expected, atol=1e-4)
    with pytest.raises(LabelError, match="3 channel"):
        decode_normal(np.zeros((2, 2), dtype=np.uint8))


def test_cityscapes_ids_map_to_train_ids() -> None:
    ids = np.array([[7, 8, 11, 26], [33, 0, 6, 255]], dtype=np.uint8)
    got = decode_cityscapes_labels(ids).target
    assert got.dtype == torch.int64
    assert got[0].tolist() == [[0, 1, 2, 13], [18, 255, 255, 255]]
    assert sorted(set(CITYSCAPES_ID_TO_TRAIN.tolist()) - {255}) == list(range(19))


def test_disparity_to_depth_formula() -> None:
    raw = np.array([[0, 1, 257, 1 + 512]], dtype=np.uint16)  # invalid, d=0, d=1, d=2
    decoded = disparity_to_depth(raw, baseline=0.2, fx=2000.0)
    assert decoded.mask.tolist() == [[[False, False, True, True]]]
    assert torch.allclose(decoded.target, torch.tensor([[[0.0, 0.0, 400.0, 200.0]]]))


# --------------------------------------------------------------------------- losses


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


# --------------------------------------------------------------------------- meters


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
