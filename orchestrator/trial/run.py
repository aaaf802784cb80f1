"""One trial, start to end: data ▶ model ▶ train (checkpointed) ▶ evaluate ▶ TrialResult.

``run_trial`` is a pure function of its TrialSpec (and seed): it touches only the
checkpoint directory of its model and returns a ``TrialResult``. It knows nothing of Ray
or MLflow; the Ray backend calls it inside a worker and the driver records the result.
"""

from __future__ import annotations

import base64
import logging
import os
import platform
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from attacks.evaluation import evaluate
from attacks.measures import MEASURES
from models import build_model
from models.decoder_init import init_decoders, init_regression_heads
from mtsweep.shared_storage import SharedStorage, as_storage
from orchestrator.trial.data import data_uses, ensure_data, open_split
from orchestrator.trial.pictures import prediction_figure
from orchestrator.trial.result import TrialResult
from orchestrator.trial.setup import pick_device
from orchestrator.trial.training import train_model
from sweeps.presets import AUTHORS, ModelConfig
from sweeps.spec import TrialSpec
from tasks.augment import Augment, AugmentedDataset
from tasks.batches import Batch, collate

log = logging.getLogger(__name__)

SELECTION = "selection"  # a λ_a selection's metrics are eval selection_<select_split>

# Called after each training epoch with (epoch index, mean loss): how a trial reports progress.
OnEpoch = Callable[[int, float], None]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def flatten_metrics(nested: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """{eval: {task: {metric: v}}} → {'eval/task/metric': v} (docs/formats.md §1)."""
    return {
        f"{e}/{t}/{m}": float(v)
        for e, per_task in nested.items()
        for t, ms in per_task.items()
        for m, v in ms.items()
    }


def batches_of(dataset: Dataset, batch_size: int) -> Callable[[], Iterator[Batch]]:
    """A fresh pass over ``dataset`` in order, batch by batch, each time it is called."""

    def batches() -> Iterator[Batch]:
        for start in range(0, len(dataset), batch_size):
            stop = min(start + batch_size, len(dataset))
            yield collate([dataset[i] for i in range(start, stop)])

    return batches


def weights_path(model: ModelConfig, data_root: Path) -> Path | None:
    """The checkpoint to start from; a relative ``init_from`` lies in the data root, the one
    folder every node of a cluster is known to see."""
    if model.init_from is None:
        return None
    path = Path(model.init_from).expanduser()
    return path if path.is_absolute() else data_root / path


def selection_metrics(
    spec: TrialSpec,
    root: Path,
    model: torch.nn.Module,
    tasks: list,
    attacked: list,
    device: torch.device,
) -> dict[str, float]:
    """The main task's clean metrics on the selection split, as eval ``selection_<split>``:
    what a λ_a selection compares candidates on, apart from the split the cells are reported
    on; the name says which split, so the result table can."""
    data, ev = spec.config.data, spec.config.evaluation
    split = open_split(spec.dataset, root, data, tasks, ev.select_split, limit=ev.n_images)
    main = [t for t in tasks if t.name in spec.main_tasks]
    clean = evaluate(
        model,
        batches_of(split, ev.batch_size)(),
        tasks=tasks,
        evals=["clean"],
        attacked=attacked,
        report=main,
        device=device,
        seed=spec.seed,
    ).metrics["clean"]
    return flatten_metrics({f"{SELECTION}_{ev.select_split}": clean})


def run_trial(
    spec: TrialSpec,
    storage: SharedStorage | Path,
    on_epoch: OnEpoch | None = None,
    threads: int | None = None,
    gpus: float | None = None,
    loader_workers: int = 0,
) -> TrialResult:
    """Train and evaluate one model; returns metrics, losses, timings, artifacts, placement.

    ``loader_workers`` processes read the training data (the trial's CPUs beyond its first).
    """
    t0 = time.perf_counter()
    started = time.time()
    if threads:
        torch.set_num_threads(threads)
    seed_everything(spec.seed)
    device = pick_device(gpus)
    cfg = spec.config
    data, ev = cfg.data, cfg.evaluation
    (use,) = data_uses([spec])
    tasks = list(use.tasks)
    by_name = {t.name: t for t in tasks}
    attacked = [by_name[n] for n in spec.attacked]
    root = ensure_data(spec.dataset, data)
    train_set = open_split(spec.dataset, root, data, tasks, data.train_split)
    if data.crop is not None or data.flip:
        augment = Augment.for_tasks(tasks, crop=data.crop, flip=data.flip)
        train_set = AugmentedDataset(train_set, augment, seed=spec.seed)
    eval_set = open_split(spec.dataset, root, data, tasks, ev.split, limit=ev.n_images)

    model = build_model(
        spec.arch,
        tasks,
        init_from=weights_path(cfg.model, root),
        **cfg.model.network(),
    )
    init_decoders(model, cfg.model.decoder_init)
    init_regression_heads(model, tasks, cfg.model.regression_head_init)
    trained = train_model(
        model,
        tasks,
        spec.weights,
        train_set,
        cfg.train,
        as_storage(storage).child(f"checkpoints/{spec.model_key}"),
        device,
        spec.seed,
        adversarial_eval=cfg.adversarial.eval if cfg.adversarial else None,
        adversarial_weights=cfg.adversarial.weights if cfg.adversarial else "model",
        attacked=attacked,
        on_epoch=on_epoch,
        loader_workers=loader_workers,
    )
    t_train = time.perf_counter() - t0

    batches = batches_of(eval_set, ev.batch_size)
    t1 = time.perf_counter()
    evaluation = evaluate(
        model,
        batches(),
        tasks=tasks,
        evals=list(spec.evals),
        attacked=attacked,
        report=[by_name[n] for n in spec.report],
        device=device,
        seed=spec.seed,
        replay=spec.dataset if ev.fidelity == AUTHORS else None,
    )
    metrics = flatten_metrics(evaluation.metrics)
    if ev.select_split and spec.aux_tasks:
        metrics.update(selection_metrics(spec, root, model, tasks, attacked, device))
    for name, settings in cfg.measures.items():
        metrics.update(MEASURES[name].compute(model, batches, tasks, attacked, settings, spec.seed))
    t_attack = time.perf_counter() - t1

    first = collate([eval_set[0]])
    picture = prediction_figure(model, first, attacked[0], spec, device, evaluation.first_images)
    return TrialResult(
        trial_key=spec.trial_key,
        metrics=metrics,
        train_loss=trained.history,
        resumed_from_epoch=trained.resumed_from_epoch,
        time={
            "train_s": t_train,
            "attack_s": t_attack,
            "total_s": time.perf_counter() - t0,
            "started_unix": started,
            "ended_unix": time.time(),
        },
        artifacts={"prediction.png": base64.b64encode(picture).decode()},
        placement={
            "device": str(device),
            "host": platform.node(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        },
    )
