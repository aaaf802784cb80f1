"""How long a trial's steps take on this machine's device: what ``mtsweep estimate`` scales.

The model is set up exactly as a trial sets it up (:mod:`orchestrator.trial.setup`) and
stepped through the trial's own loops (``train_one_epoch``, ``attacks.evaluation.evaluate``),
at the trial's batch sizes and image size, on copies of one real sample.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from attacks.evaluation import evaluate
from models import build_model
from orchestrator.trial.checkpoints import save_checkpoint
from orchestrator.trial.data import ensure_data, image_size, make_reader
from orchestrator.trial.setup import set_up_training
from orchestrator.trial.training import train_one_epoch
from sweeps.presets import DataConfig
from sweeps.spec import TrialSpec
from tasks.batches import Batch, collate
from tasks.registry import Task, get_task

REPEATS = 3  # timings per measurement; the median is kept
SLOW_S = 2.0  # a warm-up slower than this is timed once (paper models on a CPU)

Clock = Callable[[], float]  # seconds, monotonic


@dataclass(frozen=True)
class StepTimes:
    """Seconds per step of one kind of model, measured or derived from --step-time."""

    train: float  # one training step at the training batch size
    attack: float  # one attack step at the evaluation batch size
    forward: float  # one evaluation forward pass (with metrics) at the evaluation batch size
    checkpoint: float = 0.0  # saving model and optimizer state once


def _sample(dataset: str, data: DataConfig, tasks: list[Task], size: int) -> Batch:
    """One real sample at the trial's size (from tiny synthetic files), as a template."""
    tiny = DataConfig(source="synthetic", n=8, size=16, seed=0, image_size=size)
    root = ensure_data(dataset, tiny)
    sample = make_reader(dataset, root, tiny, tasks, "train", cache=False)[0]
    return {k: sample[k] for k in ("image", "targets", "masks")}


def _timed(fn: Callable[[], object], device: torch.device, reps: int, clock: Clock) -> float:
    """The median of ``reps`` runs: what a long run sees, less the odd stall."""
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = clock()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(clock() - t0)
    return statistics.median(times)


def time_steps(
    spec: TrialSpec, device: torch.device, steps: int = 2, clock: Clock = time.perf_counter
) -> StepTimes:
    """Seconds of a training step, an attack step and an evaluation forward of ``spec``'s
    model, each the median of a few runs of ``steps`` steps after an untimed warm-up; a
    trial that trains no epoch has no training step (0 s)."""
    cfg = spec.config
    tasks = [get_task(spec.dataset, n, convention=cfg.data.convention) for n in spec.train_tasks]
    attacked = [t for t in tasks if t.name in spec.attacked]
    sample = _sample(spec.dataset, cfg.data, tasks, image_size(spec.dataset, cfg.data))
    torch.manual_seed(spec.seed)
    model = build_model(spec.arch, tasks, **cfg.model.network())
    adversarial = cfg.adversarial.eval if cfg.adversarial else None
    setup = set_up_training(model, tasks, spec.weights, cfg.train, device, adversarial, attacked)
    train_batch = collate([sample] * cfg.train.batch_size)
    run_cfg = replace(cfg.train, max_steps_per_epoch=None)

    def train(n: int) -> None:
        train_one_epoch(
            model,
            setup.forward,
            setup.criterion,
            setup.optimizer,
            [train_batch] * n,
            device,
            run_cfg,
            0,
            setup.make_inputs,
        )

    reps, t_train, t_checkpoint = REPEATS, 0.0, 0.0
    if cfg.train.epochs:  # a trial that only evaluates (epochs: 0) never takes these steps
        reps = 1 if _timed(lambda: train(1), device, 1, clock) > SLOW_S else REPEATS
        t_train = _timed(lambda: train(steps), device, reps, clock) / steps
        with tempfile.TemporaryDirectory() as tmp:
            state = {
                "epoch": 1,
                "model": model.state_dict(),
                "optimizer": setup.optimizer.state_dict(),
            }
            t_checkpoint = _timed(lambda: save_checkpoint(Path(tmp), state), device, reps, clock)
    eval_batch = collate([sample] * cfg.evaluation.batch_size)
    attack_name = f"pgd{steps}_eps4" + ("_mt" if len(attacked) > 1 else "")

    def run(evals: list[str]) -> None:
        quiet = logging.getLogger("attacks")
        level, quiet.level = quiet.level, logging.WARNING
        try:
            evaluate(
                model,
                [eval_batch],
                tasks=tasks,
                evals=evals,
                attacked=attacked,
                report=attacked,
                device=device,
                seed=0,
            )
        finally:
            quiet.setLevel(level)

    warm_up = _timed(lambda: run(["clean"]), device, 1, clock)
    if not cfg.train.epochs:
        reps = 1 if warm_up > SLOW_S else REPEATS
    t_forward = _timed(lambda: run(["clean"]), device, reps, clock)
    run([attack_name])
    t_attacked = _timed(lambda: run([attack_name]), device, reps, clock)
    t_attack = max(t_attacked - t_forward, 0.0) / steps
    return StepTimes(t_train, t_attack, t_forward, t_checkpoint)
