"""The first half of a trial: train a multitask model, checkpointing as it goes.

``train_one_epoch`` is the loop body (torchvision-reference style) with the adversarial
step as a hook that turns a batch's images into the ones the model learns from.
``train_model`` wraps it with the learning-rate schedule, checkpoints and resume: resuming
continues exactly as an uninterrupted run would (optimizer state, epoch counter and the data
order, a generator seeded per epoch, are restored), so a preempted trial loses at most one
checkpoint interval and ends with the same weights.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from attacks.eval_names import build_attack, parse_eval
from attacks.objectives import multitask_objective
from models import MultiTaskLoss
from orchestrator.trial.checkpoints import load_checkpoint, save_checkpoint
from sweeps.presets import TrainConfig
from tasks.batches import Batch, collate, to_device
from tasks.errors import MtsweepError
from tasks.registry import Task

log = logging.getLogger(__name__)

# Makes the images a step trains on from a batch already on the device (identity, or an
# attack for adversarial training).
MakeInputs = Callable[[Batch], torch.Tensor]


class TrainingDiverged(MtsweepError):
    """The loss became NaN or infinite; continuing would only waste the GPU."""


@dataclass
class TrainOutcome:
    history: list[float]  # mean training loss of every epoch, including resumed ones
    resumed_from_epoch: int  # 0 for a fresh start


def make_optimizer(cfg: TrainConfig, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def clean_inputs(batch: Batch) -> torch.Tensor:
    return batch["image"]


def adversarial_inputs(
    model: torch.nn.Module, eval_name: str, attacked: Sequence[Task], weights: dict[str, float]
) -> MakeInputs:
    """Madry-style training inputs: the attack of ``eval_name`` on the model as it is now.

    The attack's objective weights each attacked task by the model's own λ, as the training
    loss does. The model is put in eval mode for the attack (no batch-norm statistics are
    updated by the attack's forward passes) and back in train mode for the step.
    """
    attack = build_attack(parse_eval(eval_name))

    def make(batch: Batch) -> torch.Tensor:
        model.eval()
        loss_fn = multitask_objective(
            model, attacked, batch["targets"], batch["masks"], weights=weights
        )
        images = attack(batch["image"], loss_fn)
        model.train()
        return images

    return make


def train_one_epoch(
    model: torch.nn.Module,
    forward: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    criterion: MultiTaskLoss,
    optimizer: torch.optim.Optimizer,
    loader: Iterable[Batch],
    device: torch.device,
    cfg: TrainConfig,
    epoch: int,
    make_inputs: MakeInputs = clean_inputs,
) -> float:
    """One pass over ``loader``; returns the mean loss per sample.

    The loss is summed on the device and read once at the end, so the host never waits for
    the GPU inside the epoch; the first non-finite step is remembered on the device too and
    reported as one line.
    """
    model.train()
    use_amp = cfg.amp and device.type == "cuda"
    total = torch.zeros((), device=device)
    first_bad = torch.full((), -1, device=device, dtype=torch.long)
    count = 0
    for step, batch in enumerate(loader):
        if cfg.max_steps_per_epoch is not None and step >= cfg.max_steps_per_epoch:
            break
        batch = to_device(batch, device, cfg.channels_last and device.type == "cuda")
        images = make_inputs(batch)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            outputs = forward(images)
        outputs = {k: v.float() for k, v in outputs.items()}
        loss, _ = criterion(outputs, batch["targets"], batch["masks"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        detached = loss.detach()
        bad = ~torch.isfinite(detached) & (first_bad < 0)
        first_bad = torch.where(bad, torch.full_like(first_bad, step), first_bad)
        total += detached * images.shape[0]
        count += images.shape[0]
    bad_step = int(first_bad.item())
    if bad_step >= 0:
        raise TrainingDiverged(
            f"training loss became non-finite at epoch {epoch} step {bad_step}; "
            "lower the learning rate or check the data"
        )
    return float(total.item()) / max(count, 1)


def epoch_loader(dataset: Dataset, cfg: TrainConfig, seed: int, epoch: int) -> DataLoader:
    """The epoch's batches in an order fixed by (seed, epoch), so a resume repeats it."""
    order = torch.Generator().manual_seed(seed * 100_003 + epoch)
    return DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        shuffle=True,
        generator=order,
        collate_fn=collate,
        drop_last=len(dataset) > cfg.batch_size,
    )


def train_model(
    model: torch.nn.Module,
    tasks: Sequence[Task],
    weights: dict[str, float],
    dataset: Dataset,
    cfg: TrainConfig,
    ckpt_dir: Path,
    device: torch.device,
    seed: int,
    adversarial_eval: str | None = None,
    attacked: Sequence[Task] = (),
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainOutcome:
    """Train, or continue from the last checkpoint, to ``cfg.epochs`` epochs.

    With ``adversarial_eval`` (e.g. ``pgd3_eps4`` or ``pgd3_eps4_mt``) the model learns from
    that attack's examples: on the first of ``attacked`` alone, or with ``_mt`` on every
    trained task.
    """
    criterion = MultiTaskLoss(tasks, weights)
    model.to(device)
    if cfg.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(cfg, model.parameters())
    history: list[float] = []
    start = 0
    state = load_checkpoint(ckpt_dir)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = [float(v) for v in state["history"]]
        start = int(state["epoch"])
        log.info("resuming from %s at epoch %d", ckpt_dir, start)
    forward = torch.compile(model) if cfg.compile and device.type == "cuda" else model
    make_inputs: MakeInputs = clean_inputs
    if adversarial_eval is not None:
        targets = tasks if parse_eval(adversarial_eval).multitask else attacked[:1]
        make_inputs = adversarial_inputs(model, adversarial_eval, targets, weights)
    saved_at = time.monotonic()
    for epoch in range(start, cfg.epochs):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr_at(epoch)
        torch.manual_seed(seed * 100_003 + epoch)  # random starts of adversarial training
        loader = epoch_loader(dataset, cfg, seed, epoch)
        history.append(
            train_one_epoch(
                model, forward, criterion, optimizer, loader, device, cfg, epoch, make_inputs
            )
        )
        last = epoch + 1 == cfg.epochs
        if last or time.monotonic() - saved_at >= cfg.checkpoint_every_s:
            saved_at = time.monotonic()
            save_checkpoint(ckpt_dir, _state(epoch + 1, model, optimizer, history))
        if on_epoch is not None:
            on_epoch(epoch, history[-1])
    model.eval()
    return TrainOutcome(history=history, resumed_from_epoch=start)


def _state(
    epoch: int, model: torch.nn.Module, optimizer: torch.optim.Optimizer, history
) -> dict[str, Any]:
    return {
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "history": list(history),
    }
