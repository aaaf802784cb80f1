"""Attack objectives: the scalar an attack maximises, built from the tasks' own losses.

This is the only module of ``attacks`` that looks up task losses. Every objective sums
the per-sample losses over the batch, so one sample's gradient does not shrink as the
batch grows, and an attack on a batch equals attacks on its samples one by one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from attacks.base import LossFn
from attacks.eval_names import applies_to
from mtsweep.errors import MtsweepError
from tasks.registry import Task

Model = torch.nn.Module


def task_loss_sum(
    outputs: Mapping[str, torch.Tensor],
    task: Task,
    target: torch.Tensor,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """Σ over the batch of the task's per-sample loss on already computed model outputs."""
    return task.loss(outputs[task.name], target, mask).sum()


def task_objective(
    model: Model, task: Task, target: torch.Tensor, mask: torch.Tensor | None
) -> LossFn:
    """x ↦ Σ_batch L_task(model(x)): the single-task attack on ``task``."""

    def loss_fn(x: torch.Tensor) -> torch.Tensor:
        return task_loss_sum(model(x), task, target, mask)

    return loss_fn


def task_weights(tasks: Sequence[Task], weights: Mapping[str, float] | None) -> dict[str, float]:
    """The weight of each attacked task: 1/M by default (the paper's equal weighting).

    ``weights`` may be a model's whole loss-weight map λ (tasks not attacked are ignored);
    every attacked task needs a weight, none may be negative and not all may be zero.
    """
    if not tasks:
        raise MtsweepError("a multitask objective needs at least one task; got none")
    if weights is None:
        return {t.name: 1.0 / len(tasks) for t in tasks}
    missing = [t.name for t in tasks if t.name not in weights]
    if missing:
        raise MtsweepError(
            f"no weight given for task(s) {', '.join(missing)}; "
            f"pass a weight for every attacked task or none at all"
        )
    w = {t.name: float(weights[t.name]) for t in tasks}
    bad = [f"{name}={v}" for name, v in w.items() if not v >= 0]
    if bad or not any(w.values()):
        raise MtsweepError(
            f"attack weights must be >= 0 and not all zero; got {', '.join(bad) or w}"
        )
    return w


def multitask_objective(
    model: Model,
    tasks: Sequence[Task],
    targets: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor | None],
    weights: Mapping[str, float] | None = None,
) -> LossFn:
    """x ↦ Σ_batch Σ_c w_c L_c(model(x)): the joint attack on all ``tasks`` (one forward).

    Evaluations (``_mt``) use the default 1/M. Adversarial training passes the model's
    loss weights λ (``MultiTaskLoss.weights``), so its attack weighs the tasks as training
    does: an auxiliary task at λ_a = 0.01 (the autoencoder, say) pulls the perturbation
    with 1/100 of the main task's weight, not with an equal share.
    """
    w = task_weights(tasks, weights)

    def loss_fn(x: torch.Tensor) -> torch.Tensor:
        outputs = model(x)
        return sum(
            w[t.name] * task_loss_sum(outputs, t, targets[t.name], masks.get(t.name)) for t in tasks
        )

    return loss_fn


# --------------------------------------------------------------------------- Houdini


def valid_pixels(task: Task, target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """(B,1,H,W) bool: the pixels the task's loss counts (labelled and inside the mask)."""
    b, h, w = target.shape[0], *target.shape[-2:]
    valid = torch.ones((b, 1, h, w), dtype=torch.bool, device=target.device)
    if task.ignore_index is not None:
        valid &= target.long() != task.ignore_index
    if mask is not None:
        valid &= mask
    return valid


def per_image_miou(
    guess: torch.Tensor, labels: torch.Tensor, valid: torch.Tensor, task: Task
) -> torch.Tensor:
    """(B,) mIoU in [0, 1] of each image's prediction, over the classes it labels or predicts.

    The same convention as the task's meter (the ignore label is no class); an image
    without valid pixels gets 1, i.e. nothing left to attack.
    """
    n, b = task.channels, guess.shape[0]
    sample = torch.arange(b, device=guess.device).view(b, 1, 1).expand_as(guess)
    idx = (sample * n + labels.clamp(0, n - 1)) * n + guess
    hist = torch.bincount(idx[valid], minlength=b * n * n).view(b, n, n).double()
    tp = hist.diagonal(dim1=1, dim2=2)
    union = hist.sum(1) + hist.sum(2) - tp
    present = union > 0
    if task.ignore_index is not None and task.ignore_index < n:
        present[:, task.ignore_index] = False
    iou = torch.where(present, tp / union.clamp_min(1.0), torch.zeros_like(tp))
    count = present.sum(1)
    return torch.where(count > 0, iou.sum(1) / count.clamp_min(1), torch.ones_like(tp[:, 0]))


def houdini_objective(
    model: Model,
    task: Task,
    target: torch.Tensor,
    mask: torch.Tensor | None,
    gamma: float = 1.0,
) -> LossFn:
    """x ↦ Σ_batch mean_valid P(γ·(s_y − s_ŷ) < N(0,1)) · (1 − mIoU): Houdini's surrogate.

    s_y is the true class's score and s_ŷ the best other class's, which is the predicted
    class wherever the prediction is wrong. (Taking the argmax itself everywhere would make
    s_y − s_ŷ ≡ 0 on correct pixels and leave them without gradient.) The task cost
    1 − mIoU of the current prediction is a per-image constant: no gradient flows through
    it. The paper's code weighted by the IoU itself, which rewards what it should punish.
    """
    if not applies_to("houdini", [task]):
        raise MtsweepError(
            f"Houdini attacks a segmentation metric; task {task.name!r} is "
            f"{task.kind}: use pgd or mim for it"
        )
    labels = target.long().squeeze(1)
    valid = valid_pixels(task, target, mask).squeeze(1)
    true_class = labels.clamp(0, task.channels - 1).unsqueeze(1)
    n_valid = valid.flatten(1).sum(1).clamp_min(1)

    def loss_fn(x: torch.Tensor) -> torch.Tensor:
        scores = model(x)[task.name].float()
        s_true = scores.gather(1, true_class).squeeze(1)
        s_rival = scores.scatter(1, true_class, float("-inf")).amax(1)
        prob = 0.5 * torch.erfc(gamma * (s_true - s_rival) / math.sqrt(2.0))
        with torch.no_grad():
            cost = 1.0 - per_image_miou(scores.argmax(1), labels, valid, task).to(prob.dtype)
        per_pixel = prob * valid * cost.view(-1, 1, 1)
        return (per_pixel.flatten(1).sum(1) / n_valid).sum()

    return loss_fn
