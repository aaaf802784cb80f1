"""Attack objectives: batch sums of the task losses, the joint loss, Houdini's surrogate."""

from __future__ import annotations

import math

import pytest
import torch

from attacks.objectives import (
    houdini_objective,
    multitask_objective,
    per_image_miou,
    task_objective,
)
from mtsweep.errors import MtsweepError
from tasks.labels import CITYSCAPES_IGNORE
from tests.attacks.tinymodels import DEPTH, SEG, TinyNet, make_batch


def single(model, batch, task):
    return task_objective(model, task, batch["targets"][task.name], batch["masks"][task.name])


def test_task_objective_sums_the_per_sample_losses(random_net):
    batch = make_batch(4, seed=2)
    total = single(random_net, batch, SEG)(batch["image"])
    one_by_one = sum(
        task_objective(
            random_net,
            SEG,
            batch["targets"][SEG.name][i : i + 1],
            batch["masks"][SEG.name][i : i + 1],
        )(batch["image"][i : i + 1])
        for i in range(4)
    )
    assert torch.allclose(total, one_by_one, rtol=1e-5)


@pytest.mark.parametrize("weights", [None, {SEG.name: 0.9, DEPTH.name: 0.1}])
def test_multitask_objective_is_the_weighted_sum_of_single_task_ones(random_net, weights):
    batch = make_batch(3, seed=4)
    x = batch["image"]
    joint = multitask_objective(random_net, [SEG, DEPTH], batch["targets"], batch["masks"], weights)
    w = weights or {SEG.name: 0.5, DEPTH.name: 0.5}
    expected = sum(w[t.name] * single(random_net, batch, t)(x) for t in (SEG, DEPTH))
    assert torch.allclose(joint(x), expected, rtol=1e-6)


def test_multitask_objective_needs_a_weight_for_every_task(random_net):
    batch = make_batch(2)
    with pytest.raises(ValueError, match="depth"):
        multitask_objective(
            random_net, [SEG, DEPTH], batch["targets"], batch["masks"], {SEG.name: 1}
        )


def test_per_image_miou_by_hand():
    labels = torch.tensor([[[0, 0], [1, 1]], [[2, 2], [2, 2]]])
    guess = torch.tensor([[[0, 1], [1, 1]], [[2, 2], [2, 2]]])
    valid = torch.ones_like(labels, dtype=torch.bool)
    # image 0: class 0 IoU 1/2, class 1 IoU 2/3; image 1: perfect
    expected = torch.tensor([(1 / 2 + 2 / 3) / 2, 1.0], dtype=torch.float64)
    assert torch.allclose(per_image_miou(guess, labels, valid, SEG), expected)


class FixedScores(torch.nn.Module):
    """Returns given scores (times 1 + a zero-mean use of x, so gradients reach x)."""

    def __init__(self, scores):
        super().__init__()
        self.scores = scores

    def forward(self, x):
        return {SEG.name: self.scores + x[:, :1] - x[:, :1].detach()}


def test_houdini_value_by_hand():
    # one image, 1×3 pixels, 19 classes; labels 0, 1 and ignore
    scores = torch.zeros(1, SEG.channels, 1, 3)
    scores[0, 0, 0, 0] = 2.0  # pixel 0: true class 0 wins by 2 (rival 0)
    scores[0, 2, 0, 1] = 1.0  # pixel 1: true class 1 loses to class 2 by 1
    target = torch.tensor([[[[0, 1, CITYSCAPES_IGNORE]]]])
    loss_fn = houdini_objective(FixedScores(scores), SEG, target, None)
    phi_bar = lambda z: 0.5 * math.erfc(z / math.sqrt(2))  # noqa: E731 P(N(0,1) > z)
    # prediction [0, 2]: classes 0 (IoU 1), 1 (IoU 0), 2 (IoU 0) -> mIoU 1/3
    cost = 1 - 1 / 3
    expected = cost * (phi_bar(2.0) + phi_bar(-1.0)) / 2
    assert loss_fn(torch.zeros(1, 3, 1, 3)).item() == pytest.approx(expected, rel=1e-6)


def test_houdini_is_zero_for_a_perfect_prediction_and_ignores_ignored_pixels():
    scores = torch.zeros(1, SEG.channels, 2, 2)
    scores[0, 3] = 5.0
    target = torch.full((1, 1, 2, 2), 3)
    x = torch.zeros(1, 3, 2, 2)
    assert houdini_objective(FixedScores(scores), SEG, target, None)(x).item() == 0.0
    target[0, 0, 0, 0] = CITYSCAPES_IGNORE  # a wrong label there would change nothing
    scores[0, 4, 0, 0] = 9.0
    assert houdini_objective(FixedScores(scores), SEG, target, None)(x).item() == 0.0


def test_houdini_has_an_input_gradient_on_an_imperfect_prediction(random_net):
    batch = make_batch(2, seed=9)
    x = batch["image"].requires_grad_(True)
    target = batch["targets"][SEG.name]
    (grad,) = torch.autograd.grad(houdini_objective(random_net, SEG, target, None)(x), x)
    assert grad.abs().sum() > 0
    assert torch.isfinite(grad).all()


def test_houdini_refuses_regression_tasks():
    batch = make_batch(1)
    with pytest.raises(ValueError, match="segmentation"):
        houdini_objective(TinyNet(), DEPTH, batch["targets"][DEPTH.name], None)


def test_training_attack_weighs_tasks_by_the_models_lambda(random_net):
    """The model's whole λ map may be passed; an auxiliary task counts at its λ only."""
    batch = make_batch(3, seed=5)
    x = batch["image"]
    lam = {SEG.name: 1.0, DEPTH.name: 0.01, "autoencoder": 0.01}  # a superset of the attacked
    joint = multitask_objective(random_net, [SEG, DEPTH], batch["targets"], batch["masks"], lam)
    seg, depth = (single(random_net, batch, t)(x) for t in (SEG, DEPTH))
    assert torch.allclose(joint(x), seg + 0.01 * depth, rtol=1e-6)
    equal = multitask_objective(random_net, [SEG, DEPTH], batch["targets"], batch["masks"])
    assert not torch.allclose(joint(x), equal(x))
    # a task at weight 0 leaves the attack direction to the others
    seg_only = multitask_objective(
        random_net, [SEG, DEPTH], batch["targets"], batch["masks"], {SEG.name: 1, DEPTH.name: 0}
    )
    x_req = x.clone().requires_grad_(True)
    (g_joint,) = torch.autograd.grad(seg_only(x_req), x_req)
    x_req2 = x.clone().requires_grad_(True)
    (g_seg,) = torch.autograd.grad(single(random_net, batch, SEG)(x_req2), x_req2)
    assert torch.allclose(g_joint, g_seg, atol=1e-7)


@pytest.mark.parametrize(
    "weights", [{SEG.name: 1.0, DEPTH.name: -0.1}, {SEG.name: 0, DEPTH.name: 0}]
)
def test_negative_or_all_zero_weights_are_refused(random_net, weights):
    batch = make_batch(2)
    with pytest.raises(MtsweepError, match="weights"):
        multitask_objective(random_net, [SEG, DEPTH], batch["targets"], batch["masks"], weights)
