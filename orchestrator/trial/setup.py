"""The worker's set-up of one model: its device, and what a training step needs.

A trial (``trial.training``) and the driver's cost estimate (``trial.timing``, for
``mtsweep estimate``) set a model up through this one module, so the steps the estimate
times are the steps trials take: the same device choice, memory format, compilation,
loss, optimiser and adversarial inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch

from attacks.eval_names import parse_eval, training_attack
from attacks.objectives import multitask_objective
from models import MultiTaskLoss
from mtsweep.errors import MtsweepError
from sweeps.presets import TrainConfig
from tasks.batches import Batch
from tasks.datasets import get_dataset
from tasks.losses import Loss, normalised_mse
from tasks.registry import Task

# Makes the images a step trains on from a batch already on the device (identity, or an
# attack for adversarial training).
MakeInputs = Callable[[Batch], torch.Tensor]


def pick_device(gpus: float | None = None) -> torch.device:
    """The device of a trial that booked ``gpus`` GPUs (None: not booked, use any GPU).

    A trial booked with no GPU never touches CUDA: Ray leaves such a worker's
    CUDA_VISIBLE_DEVICES alone, so ``cuda`` would silently share the card with trials that
    did book it. A fractional trial caps its CUDA allocator at its fraction of the card,
    so one heavy trial cannot take its neighbours' memory.
    """
    if gpus is not None and gpus <= 0:
        return torch.device("cpu")
    if not torch.cuda.is_available():
        return torch.device("cpu")
    device = torch.device("cuda")
    if gpus is not None and gpus < 1:
        torch.cuda.set_per_process_memory_fraction(gpus, device)
    return device


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
    attack = training_attack(parse_eval(eval_name))  # Madry-style step: 2.5·ε/steps

    def make(batch: Batch) -> torch.Tensor:
        model.eval()
        loss_fn = multitask_objective(
            model, attacked, batch["targets"], batch["masks"], weights=weights
        )
        images = attack(batch["image"], loss_fn)
        model.train()
        return images

    return make


def training_losses(tasks: Sequence[Task], cfg: TrainConfig) -> dict[str, Loss]:
    """The tasks whose training loss the preset replaces: with ``autoencoder_loss:
    mse_normalised``, each autoencoder task's MSE on RGB standardised by its dataset's
    statistics (MTRobust's Cityscapes autoencoder; docs/fidelity.md)."""
    if cfg.autoencoder_loss == "l1":
        return {}
    losses: dict[str, Loss] = {}
    for t in tasks:
        if not t.target_is_input:
            continue
        std = get_dataset(t.dataset).rgb_std
        if std is None:
            raise MtsweepError(
                f"train.autoencoder_loss mse_normalised: {t.dataset} declares no RGB "
                "statistics to standardise with; use l1"
            )
        losses[t.name] = normalised_mse(std)
    return losses


@dataclass
class TrainingSetup:
    """A model on its device with everything a training step uses."""

    model: torch.nn.Module
    forward: Callable[[torch.Tensor], dict[str, torch.Tensor]]  # compiled, or the model
    criterion: MultiTaskLoss
    optimizer: torch.optim.Optimizer
    make_inputs: MakeInputs


def set_up_training(
    model: torch.nn.Module,
    tasks: Sequence[Task],
    weights: dict[str, float],
    cfg: TrainConfig,
    device: torch.device,
    adversarial_eval: str | None = None,
    attacked: Sequence[Task] = (),
    adversarial_weights: str = "model",
) -> TrainingSetup:
    """``model`` moved to ``device`` (channels-last and compiled on CUDA when the preset asks)
    with its loss, optimiser and inputs: clean, or with ``adversarial_eval`` that attack's
    examples on the first of ``attacked`` alone (``_mt``: on every trained task, weighted by
    the model's λ, or with ``adversarial_weights`` 'equal' unweighted, as the authors'
    multitask attacks). The loss averages masked tasks over valid or all pixels as
    ``cfg.loss_denominator`` says."""
    model.to(device)
    if cfg.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if cfg.compile and device.type == "cuda" else model
    make_inputs: MakeInputs = clean_inputs
    if adversarial_eval is not None:
        targets = tasks if parse_eval(adversarial_eval).multitask else attacked[:1]
        attack_weights = (
            weights if adversarial_weights == "model" else {t.name: 1.0 for t in targets}
        )
        make_inputs = adversarial_inputs(model, adversarial_eval, targets, attack_weights)
    return TrainingSetup(
        model=model,
        forward=forward,
        criterion=MultiTaskLoss(
            tasks,
            weights,
            all_pixels=cfg.loss_denominator == "all",
            losses=training_losses(tasks, cfg),
        ),
        optimizer=make_optimizer(cfg, model.parameters()),
        make_inputs=make_inputs,
    )
