"""The first half of a trial: train a multitask model, checkpointing every epoch.

Resuming from a checkpoint continues exactly as an uninterrupted run would: the optimizer
state, the epoch counter and the data order (a generator seeded per epoch) are restored,
so a preempted trial loses at most one epoch and ends with the same weights.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from attacks.evals import build_attack, parse_eval
from attacks.objectives import multitask_objective
from models import MultiTaskLoss
from orchestrator.atomic import replace_atomically
from tasks.registry import Task

log = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; continuing would only waste the GPU."""


@dataclass
class TrainConfig:
    epochs: int = 1
    batch_size: int = 16
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: list[list[float]] | None = None  # [[epoch, lr], …], piecewise constant
    amp: bool = False  # bf16 autocast on CUDA
    channels_last: bool = False
    compile: bool = False
    max_steps_per_epoch: int | None = None
    # Seconds between checkpoints (0: every epoch). The last epoch is always saved; a resume
    # repeats at most this much training. Tiny smoke trials set it so as not to spend a
    # tenth of their time writing checkpoints.
    checkpoint_every_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def lr_at(self, epoch: int) -> float:
        lr = self.lr
        for start, value in self.lr_schedule or []:
            if epoch >= start:
                lr = value
        return lr


def collate(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack a list of reader samples into one batch of the same shape."""
    first = samples[0]
    return {
        "image": torch.stack([s["image"] for s in samples]),
        "targets": {k: torch.stack([s["targets"][k] for s in samples]) for k in first["targets"]},
        "masks": {k: torch.stack([s["masks"][k] for s in samples]) for k in first["masks"]},
    }


def to_device(batch: dict[str, Any], device: torch.device, channels_last: bool = False) -> dict:
    image = batch["image"].to(device, non_blocking=True)
    if channels_last:
        image = image.contiguous(memory_format=torch.channels_last)
    return {
        "image": image,
        "targets": {k: v.to(device, non_blocking=True) for k, v in batch["targets"].items()},
        "masks": {k: v.to(device, non_blocking=True) for k, v in batch["masks"].items()},
    }


def make_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    raise ValueError(f"unknown optimizer {cfg.optimizer!r}; use 'adam' or 'sgd'")


# ------------------------------------------------------------------ checkpoints


def _checkpoint_path(ckpt_dir: Path) -> Path:
    return ckpt_dir / "latest.pt"


def save_checkpoint(ckpt_dir: Path, state: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    replace_atomically(_checkpoint_path(ckpt_dir), lambda tmp: torch.save(state, tmp))


def load_checkpoint(ckpt_dir: Path) -> dict[str, Any] | None:
    path = _checkpoint_path(ckpt_dir)
    if not path.exists():
        return None
    # weights_only: a checkpoint is data, never code, even on shared storage.
    return torch.load(path, map_location="cpu", weights_only=True)


# ------------------------------------------------------------------ the loop


@dataclass
class TrainOutcome:
    history: list[float]  # mean training loss of every epoch, including resumed ones
    resumed_from_epoch: int  # 0 for a fresh start


@dataclass
class AdversarialTraining:
    """Madry-style training on PGD examples of the model's attacked tasks."""

    eval_name: str  # e.g. "pgd3_eps4" (single task) or "pgd3_eps4_mt" (all trained tasks)
    attacked: Sequence[Task]


def train_model(
    model: torch.nn.Module,
    tasks: Sequence[Task],
    weights: dict[str, float],
    dataset: Dataset,
    cfg: TrainConfig,
    ckpt_dir: Path,
    device: torch.device,
    seed: int,
    adversarial: AdversarialTraining | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
) -> TrainOutcome:
    """Train, or continue from the last checkpoint, to ``cfg.epochs`` epochs."""
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
    use_amp = cfg.amp and device.type == "cuda"
    attack = None
    if adversarial is not None:
        attack = build_attack(parse_eval(adversarial.eval_name))
    saved_at = time.monotonic()
    for epoch in range(start, cfg.epochs):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr_at(epoch)
        order = torch.Generator().manual_seed(seed * 100_003 + epoch)
        torch.manual_seed(seed * 100_003 + epoch)  # random starts of adversarial training
        loader = DataLoader(
            dataset,
            batch_size=cfg.batch_size,
            shuffle=True,
            generator=order,
            collate_fn=collate,
            drop_last=len(dataset) > cfg.batch_size,
        )
        total, count = 0.0, 0
        for step, batch in enumerate(loader):
            if cfg.max_steps_per_epoch is not None and step >= cfg.max_steps_per_epoch:
                break
            batch = to_device(batch, device, cfg.channels_last)
            images = batch["image"]
            if attack is not None:
                model.eval()
                loss_fn = multitask_objective(
                    model, adversarial.attacked, batch["targets"], batch["masks"]
                )
                images = attack(images, loss_fn)
            model.train()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
                outputs = forward(images)
            outputs = {k: v.float() for k, v in outputs.items()}
            loss, _ = criterion(outputs, batch["targets"], batch["masks"])
            value = loss.item()
            if not math.isfinite(value):
                raise TrainingDiverged(
                    f"training loss became {value} at epoch {epoch} step {step}; "
                    "lower the learning rate or check the data"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += value * images.shape[0]
            count += images.shape[0]
        history.append(total / max(count, 1))
        last = epoch + 1 == cfg.epochs
        if last or time.monotonic() - saved_at >= cfg.checkpoint_every_s:
            saved_at = time.monotonic()
            save_checkpoint(
                ckpt_dir,
                {
                    "epoch": epoch + 1,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "history": history,
                },
            )
        if on_epoch is not None:
            on_epoch(epoch, history[-1])
    model.eval()
    return TrainOutcome(history=history, resumed_from_epoch=start)
