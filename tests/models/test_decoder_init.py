"""model.decoder_init: 'authors' re-draws decoder convolutions as the authors' network."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from models import build_model
from models.decoder_init import init_decoders
from sweeps.definition import load_sweep
from tasks.registry import parse_tasks


def _model():
    torch.manual_seed(0)
    return build_model("resnet18", parse_tasks("taskonomy", "dn"), width=16)


def test_authors_redraws_decoder_convolutions_only():
    model = _model()
    before = copy.deepcopy(model)
    init_decoders(model, "authors", torch.Generator().manual_seed(0))
    pairs = list(zip(model.named_modules(), before.modules(), strict=True))
    convs = [(n, m, b) for (n, m), b in pairs if type(m) is nn.Conv2d and n.startswith("decoders")]
    assert convs
    for name, module, old in convs:
        assert not torch.equal(module.weight, old.weight), name
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
        if module.weight.numel() >= 2000:  # enough draws for the std to be close
            assert float(module.weight.detach().std()) == pytest.approx(
                (2 / fan_out) ** 0.5, rel=0.1
            )
        assert module.bias is None or torch.equal(module.bias, old.bias)
    for (name, module), old in pairs:  # encoder, transposed convolutions, batch norms kept
        if not (type(module) is nn.Conv2d and name.startswith("decoders")):
            for p, q in zip(module.parameters(False), old.parameters(False), strict=True):
                assert torch.equal(p, q), name


def test_pytorch_leaves_the_model_and_only_the_paper_presets_ask_for_authors():
    model = _model()
    before = copy.deepcopy(model)
    init_decoders(model, "pytorch")
    assert all(
        torch.equal(p, q) for p, q in zip(model.parameters(), before.parameters(), strict=True)
    )
    for name in ("taskonomy-pairs", "taskonomy-multitask-attack"):
        sweep = load_sweep(name)
        assert sweep.resolved("paper")["model"]["decoder_init"] == "authors"
        assert sweep.resolved("smoke")["model"]["decoder_init"] == "pytorch"
