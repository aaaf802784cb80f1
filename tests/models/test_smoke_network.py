"""The smoke network's options: a dilated Taskonomy encoder and a linear decoder.

The published network (no option set) must stay exactly what it was; the options must give
finer features, outputs at the input's size, and one-line refusals where they do not apply.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models import build_model
from mtsweep.errors import MtsweepError
from sweeps.presets import ModelConfig, SweepError, parse_block
from tasks.registry import parse_tasks

TASKONOMY = parse_tasks("taskonomy", "sn")


def features(model, size: int = 32) -> torch.Tensor:
    return model.encoder(model.normalize(torch.rand(1, 3, size, size)))


def test_output_stride_keeps_the_weights_and_refines_the_features():
    torch.manual_seed(0)
    published = build_model("resnet18", TASKONOMY, 8)
    torch.manual_seed(0)
    stride32 = build_model("resnet18", TASKONOMY, 8, output_stride=32)
    state = stride32.state_dict()
    assert published.state_dict().keys() == state.keys()
    assert all(torch.equal(v, state[k]) for k, v in published.state_dict().items())
    for stride in (16, 8):
        model = build_model("resnet18", TASKONOMY, 8, output_stride=stride).eval()
        assert features(model).shape[-2:] == (32 // stride, 32 // stride)
        assert model.encoder.state_dict().keys() == published.encoder.state_dict().keys()
        out = model(torch.rand(2, 3, 32, 32))
        assert {k: v.shape for k, v in out.items()} == {
            t.name: (2, t.channels, 32, 32) for t in TASKONOMY
        }


def test_resnet50_takes_the_output_stride_too():
    model = build_model("resnet50", TASKONOMY[:1], 8, output_stride=8).eval()
    assert features(model).shape[-2:] == (4, 4)


def test_the_dilated_stages_see_as_far_as_the_strided_ones():
    model = build_model("resnet18", TASKONOMY[:1], 8, output_stride=8)
    *_, layer3, layer4 = model.encoder
    assert {
        m.dilation for m in layer3.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
    } == {(2, 2)}
    assert {
        m.dilation for m in layer4.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)
    } == {(4, 4)}
    assert all(
        m.stride == (1, 1)
        for m in [*layer3.modules(), *layer4.modules()]
        if isinstance(m, nn.Conv2d)
    )


def test_the_linear_decoder_is_one_1x1_convolution_per_task():
    model = build_model("resnet18", TASKONOMY, 8, output_stride=8, decoder="linear").eval()
    for t in TASKONOMY:
        head = model.decoders[t.name]
        assert isinstance(head, nn.Conv2d) and head.kernel_size == (1, 1)
        assert (head.in_channels, head.out_channels) == (64, t.channels)
    out = model(torch.rand(2, 3, 32, 32))
    assert all(out[t.name].shape == (2, t.channels, 32, 32) for t in TASKONOMY)


def test_options_an_architecture_does_not_have_are_refused():
    cityscapes = parse_tasks("cityscapes", "s")
    with pytest.raises(MtsweepError, match="model.output_stride: architecture 'drn_d_22'"):
        build_model("drn_d_22", cityscapes, 0.25, output_stride=8)
    with pytest.raises(MtsweepError, match="model.decoder: architecture 'drn_d_22'"):
        build_model("drn_d_22", cityscapes, 0.25, decoder="linear")
    with pytest.raises(MtsweepError, match="model.output_stride: 4 is not one of 8, 16, 32"):
        build_model("resnet18", TASKONOMY, 8, output_stride=4)


def test_the_model_block_checks_the_options():
    cfg = parse_block(ModelConfig, {"width": 8, "output_stride": 8, "decoder": "linear"}, "m")
    assert cfg.network() == {"width": 8, "output_stride": 8, "decoder": "linear"}
    assert ModelConfig().network() == {"width": None, "output_stride": None, "decoder": "published"}
    with pytest.raises(SweepError, match="m.output_stride: expected 8 or 16 or 32 or null"):
        parse_block(ModelConfig, {"output_stride": 4}, "m")
    with pytest.raises(SweepError, match="m.decoder: expected 'published' or 'linear'"):
        parse_block(ModelConfig, {"decoder": "deep"}, "m")
