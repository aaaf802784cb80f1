"""APGD against Algorithm 1 of Croce & Hein (2020), written sample by sample."""

from __future__ import annotations

import math

import pytest
import torch

from attacks import APGD
from attacks.apgd import apgd_checkpoints
from attacks.base import uniform_start
from attacks.objectives import task_objective
from tasks.errors import MtsweepError
from tests.attacks.tinymodels import DEPTH, SEG, make_batch

EPS = 8 / 255


def paper_checkpoints(n: int) -> list[int]:
    p = [0.0, 0.22]
    while p[-1] < 1:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    return sorted(w for w in {math.ceil(round(q * n, 9)) for q in p[1:]} if w < n)


def values_and_grads(objective, x):
    x = x.clone().requires_grad_(True)
    values = objective.per_sample(x)
    (grad,) = torch.autograd.grad(values.sum(), x)
    return values.detach(), grad


def reference_apgd(objective, x, x0, steps):
    """Algorithm 1, L∞: η = 2ε, momentum 0.75, at each checkpoint halve η and go back to
    x_max when fewer than 75 % of the steps since the last raised f, or when η was kept
    there and f_max has not grown since. The per-sample bookkeeping is plain Python."""
    n = x.shape[0]
    proj = lambda z: torch.min(torch.max(z, x - EPS), x + EPS).clamp(0, 1)  # noqa: E731
    eta = [2 * EPS] * n
    cur, prev = x0.clone(), x0.clone()
    f, g = values_and_grads(objective, cur)
    f_cur = f.tolist()
    x_max, f_max, g_max = cur.clone(), list(f_cur), g.clone()
    rises, f_max_then, kept_then, last = [0] * n, list(f_max), [True] * n, 0
    marks = paper_checkpoints(steps)
    for k in range(steps):
        step = torch.tensor(eta).view(-1, 1, 1, 1)
        z = proj(cur + step * g.sign())
        if k > 0:
            z = proj(cur + 0.75 * (z - cur) + 0.25 * (cur - prev))
        f_new, g_new = values_and_grads(objective, z)
        prev, cur, g = cur, z, g_new
        for i in range(n):
            rises[i] += f_new[i].item() > f_cur[i]
            f_cur[i] = f_new[i].item()
            if f_cur[i] > f_max[i]:
                f_max[i], x_max[i], g_max[i] = f_cur[i], cur[i], g[i]
        if k + 1 in marks:
            for i in range(n):
                cond1 = rises[i] < 0.75 * (k + 1 - last)
                cond2 = kept_then[i] and f_max[i] <= f_max_then[i]
                kept_then[i] = not (cond1 or cond2)
                if cond1 or cond2:
                    eta[i] /= 2
                    cur[i], g[i], f_cur[i] = x_max[i], g_max[i], f_max[i]
                rises[i], f_max_then[i] = 0, f_max[i]
            last = k + 1
    return x_max


def test_checkpoints_follow_the_papers_schedule():
    assert apgd_checkpoints(100) == [22, 41, 57, 70, 80, 87, 93, 99]
    assert apgd_checkpoints(100) == paper_checkpoints(100)
    assert apgd_checkpoints(10) == paper_checkpoints(10)
    assert apgd_checkpoints(1) == []


@pytest.mark.parametrize("task", [SEG, DEPTH], ids=lambda t: t.name)
def test_apgd_is_croce_and_hein_algorithm_1(trained_net, task):
    batch = make_batch(3, seed=41)
    x = batch["image"]
    objective = task_objective(
        trained_net, task, batch["targets"][task.name], batch["masks"][task.name]
    )
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(5))
    x0 = (x + (2 * noise - 1) * EPS).clamp(0, 1)
    want = reference_apgd(objective, x, x0, 12)
    got = APGD(EPS, 12)(x, objective, torch.Generator().manual_seed(5))
    assert torch.allclose(got, want, atol=1e-6)


def test_apgd_keeps_each_samples_best_iterate(trained_net):
    batch = make_batch(4, seed=42)
    target, mask = batch["targets"][SEG.name], batch["masks"][SEG.name]
    objective = task_objective(trained_net, SEG, target, mask)
    x = batch["image"]
    x_adv = APGD(EPS, 10)(x, objective, torch.Generator().manual_seed(0))
    start = uniform_start(x, EPS, torch.Generator().manual_seed(0))  # its first iterate
    with torch.no_grad():
        clean, first, best = (objective.per_sample(z) for z in (x, start, x_adv))
    assert (best >= first).all() and (best > 2 * clean).all()


def test_apgd_needs_per_sample_losses_and_a_positive_eps(random_net):
    batch = make_batch(1)
    with pytest.raises(MtsweepError, match="per-sample"):
        APGD(EPS, 2)(batch["image"], lambda z: random_net(z)[SEG.name].sum())
    with pytest.raises(MtsweepError, match="eps > 0"):
        APGD(0.0, 2)
