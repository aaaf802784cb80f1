"""One trial, start to end: data ▶ model ▶ train (checkpointed) ▶ evaluate ▶ result.

``run_trial`` is a pure function of its TrialSpec (and seed): it touches only the
checkpoint directory of its model and returns a JSON-able result. It knows nothing of Ray
or MLflow; the scheduler calls it inside a Ray worker and the driver records the result.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import platform
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attacks.evals import build_attack, parse_eval
from attacks.evaluation import evaluate
from attacks.vulnerability import joint_gradient_norm, subset_attack_accuracy, subset_gradient_norm
from models import build_model
from orchestrator.atomic import replace_atomically
from orchestrator.data import ensure_data, first_batch, open_split
from orchestrator.pictures import prediction_figure
from orchestrator.training import AdversarialTraining, TrainConfig, collate, train_model
from sweeps.spec import TrialSpec
from tasks.registry import get_task

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device() -> torch.device:
    """The GPU Ray assigned to this trial (CUDA_VISIBLE_DEVICES), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def flatten_metrics(nested: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """{eval: {task: {metric: v}}} → {'eval/task/metric': v} (DESIGN's MLflow names)."""
    return {
        f"{e}/{t}/{m}": float(v)
        for e, per_task in nested.items()
        for t, ms in per_task.items()
        for m, v in ms.items()
    }


def output_dim_metrics(model, batches, task, spec: TrialSpec) -> dict[str, float]:
    """Fig. 4a-b: gradient norm and attacked accuracy when only k output pixels count."""
    cfg = spec.extra.get("output_dim", {})
    draws = int(cfg.get("draws", 20))
    first = next(iter(batches()))
    pixels = first["image"].shape[-1] * first["image"].shape[-2]
    out = {}
    for k in (int(k) for k in cfg.get("ks", [1, 16, 256])):
        if k > pixels:
            log.warning("output_dim: k=%d exceeds the %d output pixels; skipped", k, pixels)
            continue
        name = f"outdim_k{k}/{task.name}"
        out[f"{name}/grad_norm"] = subset_gradient_norm(
            model, batches(), task, k, draws, seed=spec.seed
        )
        for attack_name in cfg.get("attacks", []):
            attack = build_attack(parse_eval(attack_name))
            out[f"{name}/{attack_name}_acc"] = subset_attack_accuracy(
                model, batches(), task, k, attack, draws, seed=spec.seed
            )
    return out


def run_trial(
    spec: TrialSpec,
    storage: Path,
    on_epoch: Callable[[int, float], None] | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Train and evaluate one model; returns metrics, losses, timings, artifacts, placement."""
    t0 = time.perf_counter()
    started = time.time()
    if threads:
        torch.set_num_threads(threads)
    seed_everything(spec.seed)
    device = pick_device()
    tasks = [get_task(spec.dataset, n) for n in spec.train_tasks]
    by_name = {t.name: t for t in tasks}
    root = ensure_data(spec.dataset, spec.data)
    train_set = open_split(
        spec.dataset, root, spec.data, tasks, spec.data.get("train_split", "train")
    )
    ev = spec.evaluation
    eval_set = open_split(
        spec.dataset, root, spec.data, tasks, ev.get("split", "val"), limit=ev.get("n_images")
    )

    model = build_model(spec.arch, tasks, width=spec.model.get("width"))
    cfg = TrainConfig.from_dict(spec.train)
    adversarial = None
    if spec.adversarial:
        adversarial = AdversarialTraining(eval_name=spec.adversarial["eval"], attacked=tasks)
    ckpt_dir = storage / "checkpoints" / spec.model_key
    trained = train_model(
        model,
        tasks,
        spec.weights,
        train_set,
        cfg,
        ckpt_dir,
        device,
        spec.seed,
        adversarial=adversarial,
        on_epoch=on_epoch,
    )
    t_train = time.perf_counter() - t0

    batch_size = int(ev.get("batch_size", 16))

    def batches():
        for start in range(0, len(eval_set), batch_size):
            yield collate(
                [eval_set[i] for i in range(start, min(start + batch_size, len(eval_set)))]
            )

    attacked = [by_name[n] for n in spec.attacked]
    report = [by_name[n] for n in spec.report]
    t1 = time.perf_counter()
    seen: dict[str, torch.Tensor] = {}
    nested = evaluate(
        model,
        batches(),
        tasks,
        list(spec.evals),
        attacked,
        report,
        device,
        seed=spec.seed,
        first_images=seen,
    )
    metrics = flatten_metrics(nested)
    if "grad_norm" in spec.measures:
        metrics["vulnerability/joint/grad_norm"] = joint_gradient_norm(model, batches(), tasks)
        for task in tasks:
            metrics[f"vulnerability/{task.name}/grad_norm"] = joint_gradient_norm(
                model, batches(), [task]
            )
    if "output_dim" in spec.measures:
        metrics.update(output_dim_metrics(model, batches, attacked[0], spec))
    t_attack = time.perf_counter() - t1

    picture = prediction_figure(model, first_batch(eval_set, 1), attacked[0], spec, device, seen)
    artifacts = {"prediction.png": base64.b64encode(picture).decode()}
    return {
        "trial_key": spec.trial_key,
        "metrics": metrics,
        "train_loss": trained.history,
        "resumed_from_epoch": trained.resumed_from_epoch,
        "time": {
            "train_s": t_train,
            "attack_s": t_attack,
            "total_s": time.perf_counter() - t0,
            "started_unix": started,
            "ended_unix": time.time(),
        },
        "artifacts": artifacts,
        "placement": {
            "device": str(device),
            "host": platform.node(),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
        },
    }


def write_result(storage: Path, trial_key: str, result: dict[str, Any]) -> Path:
    """Keep the finished result beside the checkpoints, so a driver crash loses nothing."""
    out = storage / "results" / f"{trial_key}.json"
    return replace_atomically(out, lambda tmp: tmp.write_text(json.dumps(result)))


def read_result(storage: Path, trial_key: str) -> dict[str, Any] | None:
    path = storage / "results" / f"{trial_key}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
