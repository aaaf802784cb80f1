"""SegPGD and CosPGD against loops written from their papers, and the authors' helpers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from cospgd import functions as cospgd_helpers

from attacks import PGD, CosPGD, SegPGD
from attacks.cospgd import cosine_weight
from attacks.objectives import PixelView, task_objective
from attacks.segpgd import segpgd_lambda
from tasks.errors import MtsweepError
from tasks.registry import get_task
from tests.attacks.tinymodels import DEPTH, SEG, make_batch

EPS, STEP, STEPS = 8 / 255, 2 / 255, 5


def objective(model, batch, task=SEG):
    return task_objective(model, task, batch["targets"][task.name], batch["masks"][task.name])


def uniform_start(x, seed):
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed))
    return (x + (2 * noise - 1) * EPS).clamp(0, 1)


def reference_loop(model, x, labels, pixel_weight, seed=0):
    """Signed steps on mean_valid(w_t · CE) per image, w_t from the paper's formula."""
    valid = (labels != SEG.ignore_index).float()
    ref = uniform_start(x, seed)
    for t in range(1, STEPS + 1):
        xr = ref.clone().requires_grad_(True)
        logits = model(xr)[SEG.name]
        ce = F.cross_entropy(logits, labels, ignore_index=SEG.ignore_index, reduction="none")
        w = pixel_weight(logits.detach(), t)
        loss = ((w * ce * valid).sum((1, 2)) / valid.sum((1, 2))).sum()
        (grad,) = torch.autograd.grad(loss, xr)
        ref = torch.min(torch.max(ref + STEP * grad.sign(), x - EPS), x + EPS).clamp(0, 1)
    return ref


def test_segpgd_is_gu_et_al(trained_net):
    batch = make_batch(3, seed=31)
    x, labels = batch["image"], batch["targets"][SEG.name].squeeze(1)

    def split(logits, t):  # (1 − λ_t) on correct pixels, λ_t on wrong ones, λ_t = (t−1)/2T
        lam = (t - 1) / (2 * STEPS)
        return torch.where(logits.argmax(1) == labels, 1 - lam, lam)

    want = reference_loop(trained_net, x, labels, split)
    got = SegPGD(EPS, STEP, STEPS)(
        x, objective(trained_net, batch), torch.Generator().manual_seed(0)
    )
    assert torch.allclose(got, want, atol=1e-6)


def test_segpgd_lambda_schedule_and_the_authors_scaling(random_net):
    assert [segpgd_lambda(t, 4) for t in range(1, 5)] == [0, 1 / 8, 2 / 8, 3 / 8]
    batch = make_batch(1, seed=2)
    batch["targets"][SEG.name][:] = batch["targets"][SEG.name].clamp(max=2)  # all labelled
    view = objective(random_net, batch).pixels(batch["image"])
    labels = view.target.squeeze(1).long()
    for t in (1, 3, 5):
        lam = segpgd_lambda(t, STEPS)
        correct = view.prediction.argmax(1, keepdim=True) == view.target.long()
        ours = view.per_sample(torch.where(correct, 1 - lam, lam))
        theirs = cospgd_helpers.segpgd_scale(  # the package counts iterations from 0
            view.prediction, labels, view.loss.squeeze(1), t - 1, STEPS
        )
        assert torch.allclose(ours, theirs.reshape(1), atol=1e-6)


def test_cospgd_is_agnihotri_et_al(trained_net):
    batch = make_batch(3, seed=32)
    x, labels = batch["image"], batch["targets"][SEG.name].squeeze(1)

    def cosine(logits, t):  # cos(softmax p, one-hot y) = p_y / ‖p‖₂
        p = logits.softmax(1)
        p_y = p.gather(1, labels.clamp(0, SEG.channels - 1).unsqueeze(1)).squeeze(1)
        return p_y / p.norm(dim=1)

    want = reference_loop(trained_net, x, labels, cosine)
    got = CosPGD(EPS, STEP, STEPS)(
        x, objective(trained_net, batch), torch.Generator().manual_seed(0)
    )
    assert torch.allclose(got, want, atol=1e-6)


def test_cospgd_weights_are_the_authors_scaling_functions(random_net):
    batch = make_batch(2, seed=3)
    view = objective(random_net, batch).pixels(batch["image"])
    labels = view.target.squeeze(1).long()
    theirs = cospgd_helpers.cospgd_scale(
        view.prediction,
        labels,
        torch.ones_like(labels, dtype=torch.float),
        num_classes=SEG.channels,
    )
    assert torch.allclose(cosine_weight(view).squeeze(1), theirs, atol=1e-6)

    normal = get_task("taskonomy", "normal")  # three regression channels: softmax of both
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(2, 3, 16, 16, generator=g), torch.randn(2, 3, 16, 16, generator=g)
    reg = PixelView(normal, (pred - target).abs(), pred, target, None)
    theirs = cospgd_helpers.cospgd_scale(pred, target, torch.ones(2, 16, 16), one_hot=False)
    assert torch.allclose(cosine_weight(reg).squeeze(1), theirs, atol=1e-6)
    assert not torch.allclose(theirs, torch.ones_like(theirs))


def test_cospgd_equals_pgd_on_a_one_channel_head(trained_net):
    batch = make_batch(2, seed=4)
    view = objective(trained_net, batch, DEPTH).pixels(batch["image"])
    assert torch.equal(cosine_weight(view), torch.ones_like(cosine_weight(view)))
    depth = objective(trained_net, batch, DEPTH)
    got = CosPGD(EPS, STEP, 3)(batch["image"], depth, torch.Generator().manual_seed(1))
    want = PGD(EPS, STEP, 3)(batch["image"], depth, torch.Generator().manual_seed(1))
    assert torch.allclose(got, want, atol=1e-7)


def test_segpgd_refuses_regression_and_both_refuse_objectives_without_pixels(random_net):
    batch = make_batch(1)
    with pytest.raises(MtsweepError, match="SegPGD attacks class labels.*depth"):
        SegPGD(EPS, STEP, 1)(batch["image"], objective(random_net, batch, DEPTH))
    for attack in (SegPGD(EPS, STEP, 1), CosPGD(EPS, STEP, 1)):
        with pytest.raises(MtsweepError, match="reweighs one task's pixels"):
            attack(batch["image"], lambda z: random_net(z)[SEG.name].sum())
