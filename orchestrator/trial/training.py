"""The first half of a trial: train a multitask model, checkpointing as it goes.

``train_one_epoch`` is the loop body (torchvision-reference style) with the adversarial
step as a hook that turns a batch's images into the ones the model learns from.
``train_model`` wraps it with the learning-rate schedule, checkpoints and resume: resuming
continues exactly as an uninterrupted run would (optimizer state, epoch counter and the data
order, a generator seeded per epoch, are restored), so a preempted trial loses at most one
checkpoint interval and ends with the same weights.

The data comes from one ``TrainLoader`` for the whole training: its workers (the trial's
spare CPUs) persist across epochs, and its order is the one a shuffled ``DataLoader``
seeded per epoch gives, whatever the number of workers. A packed dataset's batches travel
as uint8 images and become float images (and derived targets) on the device.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from models import MultiTaskLoss
from mtsweep.errors import MtsweepError
from mtsweep.shared_storage import SharedStorage
from orchestrator.trial.checkpoints import load_checkpoint, save_checkpoint
from orchestrator.trial.setup import MakeInputs, clean_inputs, set_up_training
from sweeps.presets import TrainConfig
from tasks.batches import Batch, collate, to_device
from tasks.packed.read import PackedSplit
from tasks.registry import Task

log = logging.getLogger(__name__)

# Completes a batch once it is on the device (a packed dataset's uint8 images to floats).
Finish = Callable[[Batch], Batch]


class TrainingDiverged(MtsweepError):
    """The loss became NaN or infinite; continuing would only waste the GPU."""


@dataclass
class TrainOutcome:
    history: list[float]  # mean training loss of every epoch, including resumed ones
    resumed_from_epoch: int  # 0 for a fresh start


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
    finish: Finish | None = None,
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
        if finish is not None:
            batch = finish(batch)
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


class EpochBatches(Sampler[list[int]]):
    """The index batches of one epoch, in an order fixed by (seed, epoch), so a resume
    repeats it; ``set_epoch`` moves on, so one loader (and its workers) serves every epoch.

    The order is the one ``DataLoader(shuffle=True, generator=g)`` gives with ``g`` seeded
    by (seed, epoch), as trials have always used: that loader draws its workers' base seed
    from ``g`` before shuffling, so the same draw is made here first.
    """

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.drop_last = n > batch_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        order = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        torch.empty((), dtype=torch.int64).random_(generator=order)
        perm = torch.randperm(self.n, generator=order).tolist()
        stop = self.n - self.n % self.batch_size if self.drop_last else self.n
        for start in range(0, stop, self.batch_size):
            yield perm[start : start + self.batch_size]

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)


def _as_is(batch: Batch) -> Batch:
    return batch


@dataclass
class TrainLoader:
    """The training batches of every epoch, and how to finish one on the device."""

    loader: DataLoader
    batches: EpochBatches
    finish: Finish | None

    def epoch(self, epoch: int) -> DataLoader:
        self.batches.set_epoch(epoch)
        set_epoch = getattr(self.loader.dataset, "set_epoch", None)
        if set_epoch is not None:  # augmentation draws per (seed, epoch, sample)
            set_epoch(epoch)
        return self.loader


def train_loader(
    dataset: Dataset,
    cfg: TrainConfig,
    seed: int,
    workers: int = 0,
    device: torch.device | None = None,
) -> TrainLoader:
    """Batches of ``dataset`` read by ``workers`` processes (0: in the trial's own).

    Workers persist across epochs, unless the dataset changes with the epoch (augmentation:
    fresh workers then copy it after ``set_epoch``); on CUDA batches are pinned for
    asynchronous copies. A packed split is read a batch at a time (one memory-map slice per
    array) as uint8.
    """
    batches = EpochBatches(len(dataset), cfg.batch_size, seed)
    cuda = device is not None and device.type == "cuda"
    common: dict[str, Any] = {
        "num_workers": workers,
        "pin_memory": cuda,
        "persistent_workers": workers > 0 and not hasattr(dataset, "set_epoch"),
        "generator": torch.Generator(),  # so the loader never draws from the global RNG
    }
    if isinstance(dataset, PackedSplit):
        loader = DataLoader(
            dataset.quantised(), sampler=batches, batch_size=None, collate_fn=_as_is, **common
        )
        return TrainLoader(loader, batches, dataset.finish)
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate, **common)
    return TrainLoader(loader, batches, None)


def train_model(
    model: torch.nn.Module,
    tasks: Sequence[Task],
    weights: dict[str, float],
    dataset: Dataset,
    cfg: TrainConfig,
    ckpt_dir: SharedStorage | Path,
    device: torch.device,
    seed: int,
    adversarial_eval: str | None = None,
    attacked: Sequence[Task] = (),
    adversarial_weights: str = "model",
    on_epoch: Callable[[int, float], None] | None = None,
    loader_workers: int = 0,
) -> TrainOutcome:
    """Train, or continue from the last checkpoint, to ``cfg.epochs`` epochs.

    ``loader_workers`` processes read the data (a trial's CPUs beyond its first).

    With ``adversarial_eval`` (e.g. ``pgd3_eps4`` or ``pgd3_eps4_mt``) the model learns from
    that attack's examples: on the first of ``attacked`` alone, or with ``_mt`` on every
    trained task, each by its λ (``adversarial_weights`` 'model') or unweighted ('equal').
    """
    setup = set_up_training(
        model, tasks, weights, cfg, device, adversarial_eval, attacked, adversarial_weights
    )
    optimizer = setup.optimizer
    history: list[float] = []
    start = 0
    state = load_checkpoint(ckpt_dir)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        history = [float(v) for v in state["history"]]
        start = int(state["epoch"])
        log.info("resuming from %s at epoch %d", ckpt_dir, start)
    data = train_loader(dataset, cfg, seed, loader_workers, device)
    saved_at = time.monotonic()
    for epoch in range(start, cfg.epochs):
        for group in optimizer.param_groups:
            group["lr"] = cfg.lr_at(epoch)
        torch.manual_seed(seed * 100_003 + epoch)  # random starts of adversarial training
        history.append(
            train_one_epoch(
                model,
                setup.forward,
                setup.criterion,
                optimizer,
                data.epoch(epoch),
                device,
                cfg,
                epoch,
                setup.make_inputs,
                data.finish,
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
