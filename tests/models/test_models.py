"""Shapes, sharing, normalisation, the weighted loss and learnability of the networks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from models import MultiTaskLoss, build_model
from models.drn import SHARED_LEVELS, drn_encoder
from models.normalize import IMAGENET_MEAN, IMAGENET_STD
from mtsweep.errors import MtsweepError
from tasks.registry import parse_tasks

torch.set_num_threads(2)

TASKONOMY = parse_tasks("taskonomy", "sdn")
CITYSCAPES = parse_tasks("cityscapes", "sdA")


def _batch(tasks, b=2, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 3, size, size, generator=g)
    targets, masks = {}, {}
    for t in tasks:
        if t.kind == "segmentation":
            targets[t.name] = torch.randint(1, t.channels, (b, size, size), generator=g)
        else:
            targets[t.name] = torch.rand(b, t.channels, size, size, generator=g)
        masks[t.name] = torch.rand(b, 1, size, size, generator=g) > 0.2
    return x, targets, masks


@pytest.mark.parametrize(
    ("arch", "tasks", "width"),
    [
        ("resnet18", TASKONOMY[:1], 8),
        ("resnet18", TASKONOMY, 8),
        ("drn_d_22", CITYSCAPES[:2], 0.25),
        ("drn_d_22", CITYSCAPES, 0.25),
        ("drn_d_105", CITYSCAPES[:1], 0.125),
    ],
)
def test_every_task_gets_its_channels_at_the_input_size(arch, tasks, width):
    model = build_model(arch, tasks, width).eval()
    for h, w in ((32, 32), (24, 40)):  # 24×40 is not a multiple of the output stride
        out = model(torch.rand(2, 3, h, w))
        assert set(out) == {t.name for t in tasks}
        for t in tasks:
            assert out[t.name].shape == (2, t.channels, h, w)


def test_encoder_is_shared_and_decoders_are_not():
    for arch, tasks, width in (("resnet18", TASKONOMY, 8), ("drn_d_22", CITYSCAPES, 0.25)):
        model = build_model(arch, tasks, width)
        dec = [dict(model.decoders[t.name].named_parameters()) for t in tasks]
        ids = [{id(p) for p in d.values()} for d in dec]
        assert not ids[0] & ids[1] and not ids[1] & ids[2]
        enc_ids = {id(p) for p in model.encoder.parameters()}
        assert enc_ids and not enc_ids & ids[0]
        # A loss on one task moves no other task's decoder but does reach the encoder.
        x, targets, masks = _batch(tasks[:1])
        out = model(x)
        tasks[0].loss(
            out[tasks[0].name], targets[tasks[0].name], masks[tasks[0].name]
        ).sum().backward()
        assert all(p.grad is None for p in model.decoders[tasks[1].name].parameters())
        assert any(
            p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters()
        )


def test_normalisation_is_the_first_layer():
    model = build_model("resnet18", TASKONOMY[:1], 8).eval()
    seen = {}
    first_conv = model.encoder[0]
    first_conv.register_forward_pre_hook(lambda m, args: seen.setdefault("x", args[0].clone()))
    model(torch.full((1, 3, 16, 16), 0.5))
    for c in range(3):
        expect = (0.5 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
        assert torch.allclose(seen["x"][0, c], torch.full((16, 16), expect), atol=1e-6)


def test_width_scales_the_parameter_count():
    def count(m: nn.Module) -> int:
        return sum(p.numel() for p in m.parameters())

    small, big = (build_model("resnet18", TASKONOMY[:1], w) for w in (8, 16))
    assert 2.5 < count(big) / count(small) < 4.5  # conv weights grow as width²
    d_small, d_big = (build_model("drn_d_22", CITYSCAPES[:1], w) for w in (0.25, 0.5))
    assert 2.5 < count(d_big) / count(d_small) < 4.5


def test_drn_d_22_shares_sixteen_layers_and_gives_each_task_six():
    """Paper §5.1: 16 shared encoder layers and 6 decoder layers per task for DRN-D-22."""
    encoder, _ = drn_encoder("drn_d_22", 0.25)

    # Shortcut projections are not layers of the network's depth count.
    def depth(module: nn.Module) -> int:
        return sum(
            1
            for name, m in module.named_modules()
            if isinstance(m, nn.Conv2d) and "downsample" not in name
        )

    model = build_model("drn_d_22", CITYSCAPES[:1], 0.25)
    assert SHARED_LEVELS == 6
    assert depth(encoder) == 15 and depth(model.encoder) == 15
    decoder_depth = depth(model.decoders["segment_semantic"])
    assert decoder_depth == 7  # levels 6-8 (4 + 1 + 1 convs) and the 1×1 classifier
    assert depth(encoder) + decoder_depth == 22


def test_multitask_loss_is_the_weighted_sum():
    model = build_model("resnet18", TASKONOMY, 8)
    x, targets, masks = _batch(TASKONOMY)
    weights = {"segment_semantic": 1.0, "depth_zbuffer": 0.1, "normal": 0.01}
    total, per_task = MultiTaskLoss(TASKONOMY, weights)(model(x), targets, masks)
    out = model(x)
    by_hand = sum(
        weights[t.name] * t.loss(out[t.name], targets[t.name], masks[t.name]).mean()
        for t in TASKONOMY
    )
    assert torch.allclose(total, by_hand, rtol=1e-5)
    assert set(per_task) == set(weights)
    with pytest.raises(MtsweepError, match="normal"):
        MultiTaskLoss(TASKONOMY, {"segment_semantic": 1.0, "depth_zbuffer": 0.1})


def test_all_pixel_denominators_count_masked_and_ignored_pixels_as_the_authors():
    tasks = parse_tasks("taskonomy", "sd")
    model = build_model("resnet18", tasks, 8)
    x, targets, masks = _batch(tasks)
    targets["segment_semantic"][:, :4] = 0  # ignored ("uncertain") rows
    out = model(x)
    weights = {"segment_semantic": 1.0, "depth_zbuffer": 0.5}
    _, valid = MultiTaskLoss(tasks, weights)(out, targets, masks)
    _, every = MultiTaskLoss(tasks, weights, all_pixels=True)(out, targets, masks)
    d, mask = "depth_zbuffer", masks["depth_zbuffer"]
    theirs_d = ((out[d] - targets[d]).abs() * mask).mean()  # MTRobust l1_loss_mask
    assert torch.allclose(every[d], theirs_d, rtol=1e-5) and every[d] < valid[d]
    s, labels = "segment_semantic", targets["segment_semantic"]
    ce = nn.functional.cross_entropy(out[s], labels, ignore_index=0, reduction="none")
    kept = ((labels != 0) & masks[s][:, 0]).float()
    assert torch.allclose(every[s], (ce * kept).mean(), rtol=1e-5) and every[s] < valid[s]


def test_a_few_steps_lower_the_loss():
    torch.manual_seed(0)
    tasks = parse_tasks("taskonomy", "sd")
    model = build_model("resnet18", tasks, 8)
    x, targets, masks = _batch(tasks, b=4)
    loss = MultiTaskLoss(tasks, {"segment_semantic": 1.0, "depth_zbuffer": 1.0})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(40):
        total, _ = loss(model(x), targets, masks)
        first = total.item() if first is None else first
        opt.zero_grad()
        total.backward()
        opt.step()
    assert total.item() < 0.8 * first


def test_same_seed_same_model():
    def make():
        torch.manual_seed(3)
        return build_model("drn_d_22", CITYSCAPES, 0.25).eval()

    a, b = make(), make()
    x = torch.rand(1, 3, 32, 32)
    for name, out in a(x).items():
        assert torch.equal(out, b(x)[name])
    torch.manual_seed(4)
    c = build_model("drn_d_22", CITYSCAPES, 0.25).eval()
    assert not torch.equal(c(x)["depth"], a(x)["depth"])


def test_normalised_mse_autoencoder_loss_is_the_authors_mse_on_standardised_rgb():
    from orchestrator.trial.setup import training_losses
    from sweeps.presets import TrainConfig
    from tasks.cityscapes_data import CITYSCAPES_MEAN, CITYSCAPES_STD

    tasks = parse_tasks("cityscapes", "sA")
    torch.manual_seed(0)
    pred, image = torch.rand(2, 3, 8, 16), torch.rand(2, 3, 8, 16)
    mean = torch.tensor(CITYSCAPES_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CITYSCAPES_STD).view(1, 3, 1, 1)
    # MTRobust: both images standardised by the loader's mean/std, then nn.MSELoss
    theirs = nn.functional.mse_loss((pred - mean) / std, (image - mean) / std)

    losses = training_losses(tasks, TrainConfig(autoencoder_loss="mse_normalised"))
    assert set(losses) == {"autoencoder"}
    assert torch.allclose(losses["autoencoder"](pred, image, None).mean(), theirs, rtol=1e-5)
    assert training_losses(tasks, TrainConfig()) == {}

    weights = {"segment_semantic": 1.0, "autoencoder": 0.1}
    out = {"segment_semantic": torch.randn(2, 19, 8, 16), "autoencoder": pred}
    targets = {"segment_semantic": torch.zeros(2, 8, 16, dtype=torch.long), "autoencoder": image}
    masks = {"segment_semantic": None, "autoencoder": None}
    _, l1 = MultiTaskLoss(tasks, weights)(out, targets, masks)
    _, mse = MultiTaskLoss(tasks, weights, losses=losses)(out, targets, masks)
    assert torch.allclose(mse["autoencoder"], theirs, rtol=1e-5)
    assert torch.allclose(l1["autoencoder"], (pred - image).abs().mean(), rtol=1e-5)
    assert torch.equal(mse["segment_semantic"], l1["segment_semantic"])

    with pytest.raises(MtsweepError, match="no RGB statistics"):
        training_losses(
            parse_tasks("taskonomy", "sA"), TrainConfig(autoencoder_loss="mse_normalised")
        )
