"""APGD (Croce & Hein, ICML 2020): PGD with momentum and a step size it tunes itself.

Algorithm 1 of the paper, L∞, per sample: the step η starts at 2ε; the first step is
PGD's, every later one z = P(x_k + η·sign ∇f(x_k)), x_{k+1} = P(x_k + α(z − x_k) +
(1 − α)(x_k − x_{k−1})) with momentum α = 0.75. At checkpoints w_j = ⌈p_j·N⌉ (p_0 = 0,
p_1 = 0.22, p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)) a sample halves its η and
restarts from its best point when (1) its loss rose in fewer than ρ = 0.75 of the steps
since the last checkpoint, or (2) its η was not halved there and its best loss has not
grown since. The best iterate of each sample is returned. The loss is the objective's
per-sample value (``Objective.per_sample``), so APGD runs on any task's loss and on every
joint combiner. N steps cost N forward-backward passes and one forward pass.
"""

from __future__ import annotations

import math

import lazy_loader

from attacks.base import Attack, LossFn, project, uniform_start
from mtsweep.errors import MtsweepError

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

MOMENTUM = 0.75  # α
RHO = 0.75  # the share of steps that must raise the loss between checkpoints


def apgd_checkpoints(steps: int) -> list[int]:
    """The iterations w_j = ⌈p_j·N⌉ (0 < w_j < N) at which the step size may halve."""
    p_prev, p, marks = 0.0, 0.22, []
    while p < 1.0:
        w = math.ceil(round(p * steps, 9))  # 0.41 + 0.16 is 0.5700…01 in floats
        if 0 < w < steps and (not marks or w > marks[-1]):
            marks.append(w)
        p_prev, p = p, p + max(p - p_prev - 0.03, 0.06)
    return marks


def _value_and_gradient(per_sample, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        values = per_sample(x)
        (grad,) = torch.autograd.grad(values.sum(), x)
    return values.detach(), grad


def _rows(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.view(-1, *([1] * (like.dim() - 1)))


class APGD(Attack):
    """Auto-PGD: momentum 0.75, checkpointed step halving, best iterate per sample.

    >>> from attacks import APGD
    >>> apgd = APGD(eps=4 / 255, steps=100)  # apgd100_eps4
    >>> x_adv = apgd(images, task_objective(model, task, target, mask))  # doctest: +SKIP
    """

    name = "apgd"
    order = 7
    step_free = True

    def __init__(self, eps: float, steps: int, random_start: bool = True) -> None:
        if not eps > 0:
            raise MtsweepError(f"APGD needs eps > 0 (its first step is 2·eps), got {eps}")
        super().__init__(eps, 2.0 * eps, steps, random_start)

    def __call__(
        self, x: torch.Tensor, loss_fn: LossFn, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        per_sample = getattr(loss_fn, "per_sample", None)
        if per_sample is None:
            raise MtsweepError(
                "APGD keeps each sample's best iterate, so it needs per-sample losses: "
                "give it an objective from attacks.objectives, not a plain function"
            )
        x = x.detach()
        x_k = uniform_start(x, self.eps, generator) if self.random_start else x.clone()
        f_k, grad = _value_and_gradient(per_sample, x_k)
        eta = torch.full_like(f_k, self.step_size)
        best_x, best_f, best_grad = x_k.clone(), f_k.clone(), grad.clone()
        x_prev = x_k
        checkpoints, last_mark = set(apgd_checkpoints(self.steps)), 0
        rises = torch.zeros_like(f_k)
        best_at_mark, halved_at_mark = best_f.clone(), torch.zeros_like(f_k, dtype=torch.bool)
        for k in range(self.steps):
            z = project(x_k + _rows(eta, x) * grad.sign(), x, self.eps)
            if k > 0:
                z = project(
                    x_k + MOMENTUM * (z - x_k) + (1 - MOMENTUM) * (x_k - x_prev), x, self.eps
                )
            last = k == self.steps - 1
            if last:  # the final point needs its loss, not its gradient
                with torch.no_grad():
                    f_z, grad_z = per_sample(z).detach(), grad
            else:
                f_z, grad_z = _value_and_gradient(per_sample, z)
            rises += (f_z > f_k).to(rises.dtype)
            better = f_z > best_f
            best_f = torch.where(better, f_z, best_f)
            best_x = torch.where(_rows(better, x), z, best_x)
            best_grad = torch.where(_rows(better, x), grad_z, best_grad)
            x_prev, x_k, f_k, grad = x_k, z, f_z, grad_z
            mark = k + 1
            if mark in checkpoints:
                stalled = rises < RHO * (mark - last_mark)
                no_gain = ~halved_at_mark & (best_f <= best_at_mark)
                halve = stalled | no_gain
                eta = torch.where(halve, eta / 2, eta)
                x_k = torch.where(_rows(halve, x), best_x, x_k)
                grad = torch.where(_rows(halve, x), best_grad, grad)
                f_k = torch.where(halve, best_f, f_k)
                rises.zero_()
                best_at_mark, halved_at_mark, last_mark = best_f.clone(), halve, mark
        return best_x.detach()
