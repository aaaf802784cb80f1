"""Label decoders give the values their sources define, and refuse the wrong files."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from mtsweep.errors import MtsweepError
from tasks.errors import LabelError
from tasks.labels import (
    CITYSCAPES_ID_TO_TRAIN,
    SEMSEG_PRIOR_FACTOR,
    affine16,
    decode_cityscapes_labels,
    decode_curvature_standley,
    decode_curvature_taskonomy,
    decode_depth_log,
    decode_depth_standley,
    decode_disparity,
    decode_normal,
    decode_reshading_signed,
    decode_reshading_standley,
    rescale16,
)


def test_standley_depth_scaling_and_validity() -> None:
    raw = np.array([[1500, 2500], [8191, 8192]], dtype=np.uint16)
    decoded = decode_depth_standley(raw)
    assert torch.allclose(decoded.target, torch.tensor([[[0.0, 1.0], [6.691, 6.692]]]))
    assert torch.equal(decoded.mask, torch.tensor([[[True, True], [True, False]]]))
    with pytest.raises(LabelError, match="16-bit"):
        decode_depth_standley(raw.astype(np.uint8))
    assert issubclass(LabelError, MtsweepError)


def test_taskonomy_log_depth_and_its_64500_threshold() -> None:
    raw = np.array([[0, 1, 511, 64499, 64500, 65535]], dtype=np.uint16)
    decoded = decode_depth_log(raw)
    expected = [math.log1p(v) / math.log(65536) for v in (0, 1, 511, 64499, 64500, 65535)]
    assert torch.allclose(decoded.target[0, 0], torch.tensor(expected))
    assert decoded.target[0, 0, 2] == pytest.approx(9 / 16)  # log2(512) / 16
    assert decoded.mask[0, 0].tolist() == [True, True, True, True, False, False]


def test_standley_eight_bit_decoders() -> None:
    rgb = np.array([[[0, 255, 128]]], dtype=np.uint8)
    assert torch.allclose(
        decode_normal(rgb).target[:, 0, 0], torch.tensor([-1.0, 1.0, 0.0039]), atol=1e-3
    )
    gray = np.full((1, 1, 3), 51, dtype=np.uint8)
    assert torch.allclose(
        decode_reshading_standley(gray).target, torch.tensor((0.2 - 0.4962) / 0.2846)
    )
    curvature = decode_curvature_standley(np.array([[[132, 127, 0]]], dtype=np.uint8)).target
    assert curvature.shape == (2, 1, 1)
    expected = torch.tensor([(132 / 255 - 0.5175) / 0.1373, (127 / 255 - 0.4987) / 0.0359])
    assert torch.allclose(curvature[:, 0, 0], expected, atol=1e-4)
    with pytest.raises(LabelError, match="3 channel"):
        decode_normal(np.zeros((2, 2), dtype=np.uint8))


def test_taskonomy_eight_bit_decoders() -> None:
    gray = np.full((1, 1, 3), 51, dtype=np.uint8)
    assert torch.allclose(decode_reshading_signed(gray).target, torch.tensor(51 / 255 * 2 - 1))
    code = np.array([[[155, 98, 0]]], dtype=np.uint8)
    got = decode_curvature_taskonomy(code).target[:, 0, 0]
    expected = torch.tensor([(155 - 123.572) / 31.922, (98 - 120.1) / 21.658])
    assert torch.allclose(got, expected, atol=1e-5)


def test_affine_and_rescaled_sixteen_bit_labels() -> None:
    raw = np.array([[0, 718, 1788]], dtype=np.uint16)
    assert torch.allclose(
        affine16(718.0, 1070.0)(raw).target, torch.tensor([[[-0.671, 0, 1]]]), atol=1e-3
    )
    # edge_texture: v/65535 over [0, 0.08] → [-1, 1], clipped above 0.08
    top = round(0.08 * 65535)
    edges = rescale16(0.08)(np.array([[0, top // 2, top, 65535]], dtype=np.uint16)).target
    assert torch.allclose(edges[0, 0], torch.tensor([-1.0, 0.0, 1.0, 1.0]), atol=1e-3)
    unclipped = rescale16(0.08, clip=False)(np.array([[2 * top]], dtype=np.uint16)).target
    assert unclipped.item() == pytest.approx(3.0, abs=1e-3)


def test_blurred_occlusion_edges_keep_their_mean_and_spread_a_peak() -> None:
    raw = np.zeros((64, 64), dtype=np.uint16)
    raw[32, 32] = 4000
    sharp = rescale16(0.00625, clip=False)(raw).target
    blurred = rescale16(0.00625, clip=False, blur=True)(raw).target
    assert blurred.shape == sharp.shape == (1, 64, 64)
    # a blur is a weighted average: the mean is kept (mirror padding loses nothing)
    assert blurred.mean().item() == pytest.approx(sharp.mean().item(), rel=1e-4)
    assert blurred.max() < sharp.max() and blurred[0, 32, 33] > sharp[0, 32, 33]
    # sigma = 4 px of a 256-px target, so 1 px at 64 px: the value 2 px off is exp(-2)
    # of the peak's excess over the background
    excess = blurred[0, 32] - blurred[0, 0, 0]
    assert (excess[34] / excess[32]).item() == pytest.approx(math.exp(-2), rel=0.02)


def test_semseg_prior_has_a_weight_per_taskonomy_class() -> None:
    assert len(SEMSEG_PRIOR_FACTOR) == 17
    assert SEMSEG_PRIOR_FACTOR[0] < 1 < 7 < min(SEMSEG_PRIOR_FACTOR[1:])


def test_cityscapes_ids_map_to_train_ids() -> None:
    ids = np.array([[7, 8, 11, 26], [33, 0, 6, 255]], dtype=np.uint8)
    got = decode_cityscapes_labels(ids).target
    assert got.dtype == torch.int64
    assert got[0].tolist() == [[0, 1, 2, 13], [18, 255, 255, 255]]
    assert sorted(set(CITYSCAPES_ID_TO_TRAIN.tolist()) - {255}) == list(range(19))


def test_cityscapes_depth_is_raw_disparity_over_1000_with_zero_masked() -> None:
    raw = np.array([[0, 1, 2, 257, 65535]], dtype=np.uint16)
    decoded = decode_disparity(raw)
    assert decoded.mask.tolist() == [[[False, True, True, True, True]]]
    assert torch.allclose(decoded.target, torch.tensor([[[0.0, 0.001, 0.002, 0.257, 65.535]]]))
    with pytest.raises(LabelError, match="16-bit"):
        decode_disparity(raw.astype(np.uint8))
