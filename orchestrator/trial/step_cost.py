"""FLOPs and memory of one trial's steps, counted on PyTorch's meta device.

``mtsweep estimate --device h100`` plans for an accelerator the user does not have yet: it
needs the work of a training step, an attack step and an evaluation forward pass of the
trial's real model at the preset's batch and image sizes, and the memory those steps hold.
On the meta device tensors have shapes but no data, so the paper-size model is "run" in
well under a second on any laptop: ``FlopCounterMode`` counts the convolutions and matrix
products (the work that matters), and a saved-tensors hook adds up what autograd keeps for
the backward pass (the activations, the bulk of a dense-prediction model's memory).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch.utils.flop_counter import FlopCounterMode

from attacks.eval_names import parse_eval
from models import MultiTaskLoss, build_model
from orchestrator.trial.data import image_size
from sweeps.spec import TrialSpec
from tasks.registry import Task, get_task

META = torch.device("meta")
# Bytes of optimiser state per parameter byte: Adam keeps two moments, SGD one momentum.
OPTIMIZER_STATE = {"adam": 2, "sgd": 1}


@dataclass(frozen=True)
class StepCost:
    """The work and memory of one trial's steps; FLOPs count a multiply-add as two."""

    train_flops: float  # forward + backward + (adversarial training: its attack steps)
    attack_flops: float  # one attack step (forward + input gradient) at the eval batch
    forward_flops: float  # one evaluation forward pass at the eval batch
    train_bytes: int  # parameters, gradients, optimiser state and saved activations
    eval_bytes: int  # parameters and one attack step's saved activations


def _inputs(
    tasks: Sequence[Task], batch: int, size: int
) -> tuple[torch.Tensor, dict[str, torch.Tensor], dict[str, None]]:
    x = torch.empty(batch, 3, size, size, device=META)
    targets = {
        t.name: torch.empty(
            batch,
            1 if t.label_is_class else t.channels,
            size,
            size,
            device=META,
            dtype=torch.long if t.label_is_class else torch.float32,
        )
        for t in tasks
    }
    return x, targets, {t.name: None for t in tasks}


class _SavedBytes:
    """Sums the bytes autograd saves for backward (bf16 autocast would halve activations)."""

    def __init__(self, half: bool) -> None:
        self.total = 0
        self.half = half

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        size = t.element_size()
        if self.half and t.is_floating_point() and not isinstance(t, torch.nn.Parameter):
            size = min(size, 2)
        self.total += t.numel() * size
        return t


def _loss_and_flops(
    model: torch.nn.Module,
    criterion: MultiTaskLoss,
    batch: int,
    size: int,
    tasks: Sequence[Task],
    wrt_input: bool,
    half: bool,
) -> tuple[float, int]:
    """FLOPs of forward + backward (w.r.t. the weights, or the input only) and saved bytes."""
    x, targets, masks = _inputs(tasks, batch, size)
    x.requires_grad_(wrt_input)
    saved = _SavedBytes(half)
    with FlopCounterMode(display=False) as counter:
        with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
            loss, _ = criterion(model(x), targets, masks)
        loss.backward()  # with frozen weights this is the input gradient alone
    return float(counter.get_total_flops()), saved.total


def _forward_flops(model: torch.nn.Module, batch: int, size: int, tasks: Sequence[Task]) -> float:
    x, _, _ = _inputs(tasks, batch, size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return float(counter.get_total_flops())


def count_steps(
    arch: str,
    tasks: Sequence[Task],
    weights: Mapping[str, float],
    attacked: Sequence[Task],
    *,
    width: float | None,
    train_size: int,
    eval_size: int,
    train_batch: int,
    eval_batch: int,
    optimizer: str = "adam",
    amp: bool = False,
    adversarial_steps: int = 0,
    output_stride: int | None = None,
    decoder: str = "published",
) -> StepCost:
    """The :class:`StepCost` of a trial's model, without data, device or time.

    ``adversarial_steps`` is the attack steps each training step runs first (Madry-style
    adversarial training); each costs an attack step at the training batch.
    """
    with META:
        model = build_model(arch, tasks, width=width, output_stride=output_stride, decoder=decoder)
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    criterion = MultiTaskLoss(tasks, weights)
    attack_criterion = MultiTaskLoss(attacked, {t.name: 1.0 for t in attacked})
    model.train()
    train_flops, train_saved = _loss_and_flops(
        model, criterion, train_batch, train_size, tasks, wrt_input=False, half=amp
    )
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if adversarial_steps:
        per_attack, _ = _loss_and_flops(
            model, attack_criterion, train_batch, train_size, attacked, wrt_input=True, half=amp
        )
        train_flops += adversarial_steps * per_attack
    attack_flops, attack_saved = _loss_and_flops(
        model, attack_criterion, eval_batch, eval_size, attacked, wrt_input=True, half=False
    )
    forward_flops = _forward_flops(model, eval_batch, eval_size, tasks)
    state = OPTIMIZER_STATE[optimizer]
    return StepCost(
        train_flops=train_flops,
        attack_flops=attack_flops,
        forward_flops=forward_flops,
        train_bytes=params * (2 + state) + train_saved,
        eval_bytes=params + attack_saved,
    )


def count_trial_steps(spec: TrialSpec) -> StepCost:
    """:func:`count_steps` of ``spec``'s model at its preset's sizes (training at the crop,
    when the preset crops); no training step when it trains no epoch."""
    cfg = spec.config
    tasks = [get_task(spec.dataset, n, convention=cfg.data.convention) for n in spec.train_tasks]
    attacked = [t for t in tasks if t.name in spec.attacked] or tasks[:1]
    side = image_size(spec.dataset, cfg.data)
    adversarial = parse_eval(cfg.adversarial.eval).steps if cfg.adversarial else 0
    cost = count_steps(
        spec.arch,
        tasks,
        spec.weights,
        attacked,
        **cfg.model.network(),
        train_size=cfg.data.crop or side,
        eval_size=side,
        train_batch=cfg.train.batch_size,
        eval_batch=cfg.evaluation.batch_size,
        optimizer=cfg.train.optimizer,
        amp=cfg.train.amp,
        adversarial_steps=max(adversarial, 1) if cfg.adversarial else 0,
    )
    # a trial that trains no epoch (evaluating published weights) takes no training step
    return cost if cfg.train.epochs else replace(cost, train_flops=0.0, train_bytes=0)
