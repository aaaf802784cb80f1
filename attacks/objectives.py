"""Attack objectives: the scalar an attack maximises, built from the tasks' own losses.

This is the only module of ``attacks`` that looks up task losses. Every objective sums
the per-sample losses over the batch, so one sample's gradient does not shrink as the
batch grows, and an attack on a batch equals attacks on its samples one by one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import lazy_loader

from attacks.base import LossFn
from attacks.eval_names import COMBINERS, DGBA, RELATIVE, SUM, WEIGHTED, applies_to
from mtsweep.errors import MtsweepError
from tasks.losses import PixelLoss, masked_mean
from tasks.registry import Task

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

# Per-task per-sample losses (B,) → the per-sample value a joint attack maximises.
Combiner = Callable[[Mapping[str, "torch.Tensor"]], "torch.Tensor"]
# Guards the relative and DGBA combiners against a task whose loss is exactly zero.
_TINY = 1e-12


class Objective:
    """What an attack maximises: ``objective(x)`` is the batch sum of ``per_sample(x)``.

    Attacks that only step along the gradient call the objective; APGD also reads the
    per-sample values (to keep each sample's best iterate). A plain ``x ↦ scalar``
    function is still a valid objective for FGSM, PGD, MIM and Houdini.
    """

    def per_sample(self, x: torch.Tensor) -> torch.Tensor:
        """(B,) the value of each sample at x (differentiable)."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.per_sample(x).sum()


@dataclass(frozen=True)
class PixelView:
    """One task at one iterate, pixel by pixel, from a single forward pass.

    ``loss`` is the task's per-pixel loss map (B,C,H,W; C = 1 for cross-entropy), still
    attached to the graph; ``prediction`` the head's output; ``valid`` the pixels the task's
    loss counts (None: all). SegPGD and CosPGD reweigh ``loss`` pixel by pixel.
    """

    task: Task
    loss: torch.Tensor
    prediction: torch.Tensor
    target: torch.Tensor
    valid: torch.Tensor | None

    def per_sample(self, weight: torch.Tensor | None = None) -> torch.Tensor:
        """(B,) mean over valid pixels of weight·loss; with no weight, the task's own loss."""
        return masked_mean(self.loss if weight is None else weight * self.loss, self.valid)


def task_loss_sum(
    outputs: Mapping[str, torch.Tensor],
    task: Task,
    target: torch.Tensor,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """Σ over the batch of the task's per-sample loss on already computed model outputs."""
    return task.loss(outputs[task.name], target, mask).sum()


class TaskObjective(Objective):
    """x ↦ Σ_batch L_task(model(x)): the single-task attack, which can show its pixels."""

    def __init__(
        self, model: torch.nn.Module, task: Task, target: torch.Tensor, mask: torch.Tensor | None
    ) -> None:
        self.model, self.task, self.target, self.mask = model, task, target, mask

    def per_sample(self, x: torch.Tensor) -> torch.Tensor:
        return self.task.loss(self.model(x)[self.task.name], self.target, self.mask)

    def pixels(self, x: torch.Tensor) -> PixelView:
        """The task's per-pixel loss, prediction and target at x (one forward pass)."""
        loss = self.task.loss
        if not isinstance(loss, PixelLoss):
            raise MtsweepError(
                f"task {self.task.name!r}: its loss is not a per-pixel mean "
                "(tasks.losses.PixelLoss), so a pixel-weighting attack cannot reweigh it"
            )
        prediction = self.model(x)[self.task.name]
        return PixelView(
            self.task,
            loss.pixels(prediction, self.target),
            prediction,
            self.target,
            loss.valid(self.target, self.mask),
        )


def task_objective(
    model: torch.nn.Module, task: Task, target: torch.Tensor, mask: torch.Tensor | None
) -> TaskObjective:
    """x ↦ Σ_batch L_task(model(x)): the single-task attack on ``task``."""
    return TaskObjective(model, task, target, mask)


def pixels_of(loss_fn: LossFn, attack: str) -> Callable[[torch.Tensor], PixelView]:
    """The objective's pixel view (``TaskObjective.pixels``), or why ``attack`` cannot run."""
    pixels = getattr(loss_fn, "pixels", None)
    if pixels is None:
        raise MtsweepError(
            f"{attack} reweighs one task's pixels: give it attacks.objectives.task_objective(...), "
            "not a joint or plain-function objective"
        )
    return pixels


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


# --------------------------------------------------------------------------- combiners


def weighted_sum(weights: Mapping[str, float]) -> Combiner:
    """Σ_t w_t L_t: the paper's equal sum (w = 1/M) or any given weights."""

    def combine(losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return sum(weights[name] * loss for name, loss in losses.items())

    return combine


def relative_sum(clean: Mapping[str, torch.Tensor]) -> Combiner:
    """Σ_t L_t(x′)/L_t(x): each task's loss relative to its clean value, per sample
    (Ghamizi et al.'s code offers it), so a task with a small loss is not drowned out."""

    def combine(losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return sum(loss / clean[name].clamp_min(_TINY) for name, loss in losses.items())

    return combine


def log_sum(losses: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Σ_t log L_t: its input gradient is DGBA's direction Σ_t ∇ₓL_t/L_t, per sample and
    renormalised at every step (Zhang et al. 2024), and its value is a loss to track."""
    return sum(loss.clamp_min(_TINY).log() for loss in losses.values())


def task_losses(
    outputs: Mapping[str, torch.Tensor],
    tasks: Sequence[Task],
    targets: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor | None],
) -> dict[str, torch.Tensor]:
    """Each task's per-sample loss (B,) on already computed model outputs."""
    return {t.name: t.loss(outputs[t.name], targets[t.name], masks.get(t.name)) for t in tasks}


class MultitaskObjective(Objective):
    """x ↦ Σ_batch combine({t: L_t(model(x))}): the joint attack on all ``tasks``, one forward."""

    def __init__(
        self,
        model: torch.nn.Module,
        tasks: Sequence[Task],
        targets: Mapping[str, torch.Tensor],
        masks: Mapping[str, torch.Tensor | None],
        combine: Combiner,
    ) -> None:
        if not tasks:
            raise MtsweepError("a multitask objective needs at least one task; got none")
        self.model, self.tasks, self.combine = model, list(tasks), combine
        self.targets, self.masks = targets, masks

    def per_sample(self, x: torch.Tensor) -> torch.Tensor:
        return self.combine(task_losses(self.model(x), self.tasks, self.targets, self.masks))


def multitask_objective(
    model: torch.nn.Module,
    tasks: Sequence[Task],
    targets: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor | None],
    weights: Mapping[str, float] | None = None,
) -> MultitaskObjective:
    """x ↦ Σ_batch Σ_c w_c L_c(model(x)): the joint attack on all ``tasks`` (one forward).

    Evaluations (``_mt``) use the default 1/M. Adversarial training passes the model's
    loss weights λ (``MultiTaskLoss.weights``), so its attack weighs the tasks as training
    does: an auxiliary task at λ_a = 0.01 (the autoencoder, say) pulls the perturbation
    with 1/100 of the main task's weight, not with an equal share.
    """
    return MultitaskObjective(
        model, tasks, targets, masks, weighted_sum(task_weights(tasks, weights))
    )


def joint_objective(
    model: torch.nn.Module,
    tasks: Sequence[Task],
    targets: Mapping[str, torch.Tensor],
    masks: Mapping[str, torch.Tensor | None],
    clean: torch.Tensor,
    combiner: str = SUM,
    aux_weight: float | None = None,
) -> MultitaskObjective:
    """The joint attack of an ``_mt`` evaluation under one of ``COMBINERS``.

    ``sum``: the paper's equal sum Σ_t L_t/M. ``weighted``: the first task (the main one)
    weighs 1 and every other attacked task ``aux_weight``. ``rel``: Σ_t L_t(x′)/L_t(x), the
    clean losses taken from ``clean`` with one extra forward pass. ``dgba``: Σ_t log L_t,
    whose gradient is DGBA's per-step normalised direction Σ_t ∇ₓL_t/L_t.
    """
    if combiner == SUM:
        return multitask_objective(model, tasks, targets, masks)
    if combiner == WEIGHTED:
        if aux_weight is None or not aux_weight >= 0:
            raise MtsweepError(f"the weighted combiner needs an aux_weight >= 0, got {aux_weight}")
        weights = {t.name: 1.0 if i == 0 else float(aux_weight) for i, t in enumerate(tasks)}
        return MultitaskObjective(model, tasks, targets, masks, weighted_sum(weights))
    if combiner == DGBA:
        return MultitaskObjective(model, tasks, targets, masks, log_sum)
    if combiner == RELATIVE:
        with torch.no_grad():
            base = task_losses(model(clean), tasks, targets, masks)
        return MultitaskObjective(model, tasks, targets, masks, relative_sum(base))
    raise MtsweepError(f"unknown combiner {combiner!r}; known: {', '.join(COMBINERS)}")


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


class HoudiniObjective(Objective):
    """Per image, mean_valid P(γ·(s_y − s_ŷ) < N(0,1)) · (1 − mIoU): Houdini's surrogate.

    s_y is the true class's score and s_ŷ the best other class's, which is the predicted
    class wherever the prediction is wrong. (Taking the argmax itself everywhere would make
    s_y − s_ŷ ≡ 0 on correct pixels and leave them without gradient.) The task cost
    1 − mIoU of the current prediction is a per-image constant: no gradient flows through
    it. The paper's code weighted by the IoU itself, which rewards what it should punish.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        task: Task,
        target: torch.Tensor,
        mask: torch.Tensor | None,
        gamma: float = 1.0,
    ) -> None:
        if not applies_to("houdini", [task]):
            raise MtsweepError(
                f"Houdini attacks a segmentation metric; task {task.name!r} is "
                f"{task.kind}: use pgd or mim for it"
            )
        self.model, self.task, self.gamma = model, task, gamma
        self.labels = target.long().squeeze(1)
        self.valid = valid_pixels(task, target, mask).squeeze(1)
        self.true_class = self.labels.clamp(0, task.channels - 1).unsqueeze(1)
        self.n_valid = self.valid.flatten(1).sum(1).clamp_min(1)

    def per_sample(self, x: torch.Tensor) -> torch.Tensor:
        scores = self.model(x)[self.task.name].float()
        s_true = scores.gather(1, self.true_class).squeeze(1)
        s_rival = scores.scatter(1, self.true_class, float("-inf")).amax(1)
        prob = 0.5 * torch.erfc(self.gamma * (s_true - s_rival) / math.sqrt(2.0))
        with torch.no_grad():
            guess = scores.argmax(1)
            cost = 1.0 - per_image_miou(guess, self.labels, self.valid, self.task).to(prob.dtype)
        per_pixel = prob * self.valid * cost.view(-1, 1, 1)
        return per_pixel.flatten(1).sum(1) / self.n_valid


def houdini_objective(
    model: torch.nn.Module,
    task: Task,
    target: torch.Tensor,
    mask: torch.Tensor | None,
    gamma: float = 1.0,
) -> HoudiniObjective:
    """x ↦ Σ_batch of Houdini's surrogate (``HoudiniObjective``) for one segmentation task."""
    return HoudiniObjective(model, task, target, mask, gamma)
