"""Joint-attack combiners against PGD loops written from their formulas."""

from __future__ import annotations

import pytest
import torch

from attacks import PGD
from attacks.objectives import joint_objective, multitask_objective
from tasks.errors import MtsweepError
from tests.attacks.tinymodels import DEPTH, SEG, make_batch

EPS, STEP, STEPS = 8 / 255, 2 / 255, 4
TASKS = [SEG, DEPTH]


def losses(model, batch, x):
    out = model(x)
    return [t.loss(out[t.name], batch["targets"][t.name], batch["masks"][t.name]) for t in TASKS]


def grads(model, batch, x):
    """Each task's per-sample loss and input gradient, one backward pass per task."""
    x = x.clone().requires_grad_(True)
    values = losses(model, batch, x)
    return [(v.detach(), torch.autograd.grad(v.sum(), x, retain_graph=True)[0]) for v in values]


def reference_pgd(model, batch, direction):
    x = batch["image"]
    ref = x.clone()
    for _ in range(STEPS):
        ref = ref + STEP * direction(grads(model, batch, ref)).sign()
        ref = torch.min(torch.max(ref, x - EPS), x + EPS).clamp(0, 1)
    return ref


def per_sample(scale, grad):
    return scale.view(-1, 1, 1, 1) * grad


def test_each_combiner_is_its_formula(trained_net):
    batch = make_batch(3, seed=51)
    x = batch["image"]
    with torch.no_grad():
        clean = losses(trained_net, batch, x)
    directions = {
        ("sum", None): lambda lg: lg[0][1] / 2 + lg[1][1] / 2,
        ("weighted", 0.1): lambda lg: lg[0][1] + 0.1 * lg[1][1],
        ("rel", None): lambda lg: (
            per_sample(1 / clean[0], lg[0][1]) + per_sample(1 / clean[1], lg[1][1])
        ),
        # DGBA: Σ_t ∇L_t(x_k) / L_t(x_k), per sample, renormalised at every step
        ("dgba", None): lambda lg: (
            per_sample(1 / lg[0][0], lg[0][1]) + per_sample(1 / lg[1][0], lg[1][1])
        ),
    }
    results = {}
    for (combiner, weight), direction in directions.items():
        objective = joint_objective(
            trained_net, TASKS, batch["targets"], batch["masks"], x, combiner, weight
        )
        got = PGD(EPS, STEP, STEPS, random_start=False)(x, objective)
        assert torch.allclose(got, reference_pgd(trained_net, batch, direction), atol=1e-6)
        results[combiner] = got
    assert not torch.equal(results["sum"], results["dgba"])  # the combiners do differ


def test_combiner_values(random_net):
    batch = make_batch(2, seed=52)
    x = batch["image"]
    x2 = (x + 0.02).clamp(0, 1)
    seg, depth = losses(random_net, batch, x2)
    seg0, depth0 = losses(random_net, batch, x)

    def value(combiner, weight=None):
        objective = joint_objective(
            random_net, TASKS, batch["targets"], batch["masks"], x, combiner, weight
        )
        return objective.per_sample(x2)

    assert torch.allclose(value("sum"), (seg + depth) / 2)
    assert torch.allclose(value("weighted", 0.25), seg + 0.25 * depth)
    assert torch.allclose(value("rel"), seg / seg0 + depth / depth0)
    assert torch.allclose(value("dgba"), seg.log() + depth.log())
    default = multitask_objective(random_net, TASKS, batch["targets"], batch["masks"])
    assert torch.equal(value("sum"), default.per_sample(x2))


def test_unknown_combiner_or_weight_is_refused(random_net):
    batch = make_batch(1)
    args = (random_net, TASKS, batch["targets"], batch["masks"], batch["image"])
    with pytest.raises(MtsweepError, match="unknown combiner"):
        joint_objective(*args, "max")
    with pytest.raises(MtsweepError, match="aux_weight"):
        joint_objective(*args, "weighted", -1.0)
