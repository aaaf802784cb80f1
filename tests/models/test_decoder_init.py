"""model.decoder_init: 'authors' re-draws decoder convolutions as the authors' network;
model.regression_head_init: 'zero' starts regression outputs at 0, at their targets' scale."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from models import build_model
from models.decoder_init import init_decoders, init_regression_heads
from sweeps.definition import builtin_names, load_sweep
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


def _drn():
    torch.manual_seed(0)
    tasks = parse_tasks("cityscapes", "sdA")
    return build_model("drn_d_22", tasks, width=0.25), tasks


def test_zero_starts_every_regression_output_at_zero_and_leaves_the_rest():
    model, tasks = _drn()
    before = copy.deepcopy(model)
    image = torch.rand(2, 3, 16, 32)
    with torch.no_grad():
        assert float(before.eval()(image)["depth"].abs().max()) > 1  # fyu/drn's: far from 0.1
    init_regression_heads(model, tasks, "zero")
    out = model.eval()(image)
    assert torch.equal(out["depth"], torch.zeros(2, 1, 16, 32))
    assert torch.equal(out["autoencoder"], torch.zeros(2, 3, 16, 32))
    assert torch.equal(out["segment_semantic"], before(image)["segment_semantic"])
    heads = {f"decoders.{t}.{len(model.decoders[t]) - 1}." for t in ("depth", "autoencoder")}
    for (name, p), q in zip(model.named_parameters(), before.parameters(), strict=True):
        in_head = any(name.startswith(h) for h in heads)
        assert torch.equal(p, torch.zeros_like(p) if in_head else q), name


def test_a_zeroed_head_learns_from_its_first_step():
    model, tasks = _drn()
    init_regression_heads(model, tasks, "zero")
    depth = torch.full((2, 1, 16, 32), 0.1)
    (model(torch.rand(2, 3, 16, 32))["depth"] - depth).abs().mean().backward()
    head = model.decoders["depth"][-1]
    assert float(head.weight.grad.abs().sum()) > 0 and float(head.bias.grad) < 0


def test_default_leaves_the_heads_and_only_cityscapes_smoke_presets_ask_for_zero():
    model, tasks = _drn()
    before = copy.deepcopy(model)
    init_regression_heads(model, tasks, "default")
    assert all(
        torch.equal(p, q) for p, q in zip(model.parameters(), before.parameters(), strict=True)
    )
    with pytest.raises(ValueError, match="regression_head_init 'ones': choose one of"):
        init_regression_heads(model, tasks, "ones")
    # the Cityscapes sweeps that train depth (or the autoencoder), at the smoke budget only
    zero = {
        ("cityscapes-single-task-attack", "smoke"),
        ("cityscapes-multitask-attack", "smoke"),
        ("cityscapes-adversarial-training", "smoke"),
    }
    for name in builtin_names():
        sweep = load_sweep(name)
        for preset in sweep.presets:
            asked = sweep.resolved(preset)["model"].get("regression_head_init", "default")
            assert asked == ("zero" if (name, preset) in zero else "default"), (name, preset)
