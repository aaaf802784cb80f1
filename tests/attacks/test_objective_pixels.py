"""Objectives that show their pixels, and keep every older attack's numbers exactly."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from attacks import FGSM, MIM, PGD, Houdini
from attacks.objectives import houdini_objective, multitask_objective, task_objective
from tests.attacks.tinymodels import DEPTH, SEG, make_batch

EPS, STEP = 8 / 255, 2 / 255


def old_task_objective(model, task, target, mask):
    """The single-task objective as it was before objectives had per-sample values."""
    return lambda x: task.loss(model(x)[task.name], target, mask).sum()


def old_multitask_objective(model, tasks, targets, masks):
    def loss_fn(x):
        out = model(x)
        return sum(
            (1 / len(tasks)) * t.loss(out[t.name], targets[t.name], masks[t.name]).sum()
            for t in tasks
        )

    return loss_fn


def old_houdini_objective(model, task, target, mask):
    from attacks.objectives import per_image_miou, valid_pixels

    labels = target.long().squeeze(1)
    valid = valid_pixels(task, target, mask).squeeze(1)
    true_class = labels.clamp(0, task.channels - 1).unsqueeze(1)
    n_valid = valid.flatten(1).sum(1).clamp_min(1)

    def loss_fn(x):
        scores = model(x)[task.name].float()
        s_true = scores.gather(1, true_class).squeeze(1)
        s_rival = scores.scatter(1, true_class, float("-inf")).amax(1)
        prob = 0.5 * torch.erfc((s_true - s_rival) / math.sqrt(2.0))
        with torch.no_grad():
            cost = 1.0 - per_image_miou(scores.argmax(1), labels, valid, task).to(prob.dtype)
        return ((prob * valid * cost.view(-1, 1, 1)).flatten(1).sum(1) / n_valid).sum()

    return loss_fn


@pytest.mark.parametrize(
    "attack",
    [FGSM(EPS), PGD(EPS, STEP, 4), MIM(EPS, STEP, 4, decay=0.5), Houdini(EPS, STEP, 4)],
    ids=repr,
)
def test_older_attacks_give_exactly_todays_results(trained_net, attack):
    batch = make_batch(3, seed=21)
    x, targets, masks = batch["image"], batch["targets"], batch["masks"]
    if isinstance(attack, Houdini):
        pairs = [
            (
                houdini_objective(trained_net, SEG, targets[SEG.name], masks[SEG.name]),
                old_houdini_objective(trained_net, SEG, targets[SEG.name], masks[SEG.name]),
            )
        ]
    else:
        pairs = [
            (
                task_objective(trained_net, task, targets[task.name], masks[task.name]),
                old_task_objective(trained_net, task, targets[task.name], masks[task.name]),
            )
            for task in (SEG, DEPTH)
        ]
        pairs.append(
            (
                multitask_objective(trained_net, [SEG, DEPTH], targets, masks),
                old_multitask_objective(trained_net, [SEG, DEPTH], targets, masks),
            )
        )
    for new, old in pairs:
        got = attack(x, new, torch.Generator().manual_seed(3))
        want = attack(x, old, torch.Generator().manual_seed(3))
        assert torch.equal(got, want)
        assert torch.allclose(new(x), old(x), rtol=1e-6)


def test_pixel_view_is_the_task_loss_pixel_by_pixel(random_net):
    batch = make_batch(2, seed=4)
    x = batch["image"]
    out = random_net(x)
    seg = task_objective(random_net, SEG, batch["targets"][SEG.name], batch["masks"][SEG.name])
    view = seg.pixels(x)
    labels = batch["targets"][SEG.name].squeeze(1)
    ce = F.cross_entropy(out[SEG.name], labels, ignore_index=SEG.ignore_index, reduction="none")
    assert torch.allclose(view.loss.squeeze(1), ce, atol=1e-6)
    assert torch.equal(view.prediction, out[SEG.name])
    assert torch.equal(view.valid.squeeze(1), labels != SEG.ignore_index)  # the first row
    assert torch.allclose(view.per_sample(), seg.per_sample(x), atol=1e-6)
    assert torch.allclose(view.per_sample(torch.zeros_like(view.loss)), torch.zeros(2))

    depth_target, depth_mask = batch["targets"][DEPTH.name], batch["masks"][DEPTH.name]
    depth = task_objective(random_net, DEPTH, depth_target, depth_mask).pixels(x)
    assert torch.allclose(depth.loss, (out[DEPTH.name] - depth_target).abs())
    assert torch.allclose(depth.per_sample(), DEPTH.loss(out[DEPTH.name], depth_target, depth_mask))


class CountingNet(torch.nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def test_pixel_view_and_per_sample_cost_one_forward_each(random_net):
    batch = make_batch(2, seed=4)
    net = CountingNet(random_net)
    objective = task_objective(net, SEG, batch["targets"][SEG.name], batch["masks"][SEG.name])
    objective.pixels(batch["image"])
    objective.per_sample(batch["image"])
    objective(batch["image"])
    assert net.calls == 3
