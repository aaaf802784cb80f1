"""The smoke presets learn: each smoke baseline beats the constant predictor on clean data.

A demo whose models predict the majority class everywhere reads as broken. Here each
single-task model of the demo's sweep and of every Cityscapes sweep is trained and evaluated
as its trial is (``run_trial``, clean evaluation only), and scored against the best-known
constant on the same images: the training split's majority class for segmentation, its mean
target for regression (per channel, over valid pixels).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attacks.evaluation import evaluate
from orchestrator.trial.data import data_uses, ensure_data, open_split
from orchestrator.trial.run import batches_of, run_trial
from sweeps.definition import builtin_names, load_sweep
from sweeps.spec import TrialSpec
from tasks.registry import Task

# Trains every smoke baseline: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow


class ConstantPredictor(nn.Module):
    """The same output map for every image: one value (or logit vector) per channel."""

    def __init__(self, values: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.values = values

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n, _, h, w = x.shape
        return {k: v.view(1, -1, 1, 1).expand(n, -1, h, w) for k, v in self.values.items()}


def constant_output(task: Task, targets: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Majority-class logits (segmentation) or the mean target per channel (regression)."""
    if task.kind == "segmentation":
        labels = targets.long().flatten()
        if task.ignore_index is not None:
            labels = labels[labels != task.ignore_index]
        logits = torch.zeros(task.channels)
        logits[torch.bincount(labels, minlength=task.channels).argmax()] = 1.0
        return logits
    valid = torch.ones_like(targets[:, :1], dtype=torch.bool) if mask is None else mask.bool()
    return torch.stack([c[valid].float().mean() for c in targets.split(1, dim=1)])


def baselines(sweep: str) -> list[TrialSpec]:
    """The sweep's smoke single-task models, evaluated clean only (same model keys)."""
    specs = load_sweep(sweep).expand("smoke", overrides=["evals=[clean]", "measures=[]"])
    return [s for s in specs if len(s.train_tasks) == 1]


def smoke_baselines() -> list[tuple[str, TrialSpec]]:
    """(sweep, spec) of the demo's sweep and every Cityscapes sweep, each trial once: the
    Cityscapes sweeps share baselines (one trial key, trained and evaluated alike)."""
    cityscapes = [n for n in builtin_names() if load_sweep(n).dataset == "cityscapes"]
    cases, seen = [], set()
    for sweep in ("taskonomy-pairs", *cityscapes):
        for spec in baselines(sweep):
            if spec.trial_key not in seen:
                seen.add(spec.trial_key)
                cases.append((sweep, spec))
    return cases


def constant_metric(spec: TrialSpec) -> float:
    """The main task's primary metric of the constant predictor on the trial's eval images."""
    cfg = spec.config
    (use,) = data_uses([spec])
    tasks = list(use.tasks)
    root = ensure_data(spec.dataset, cfg.data)
    train = open_split(spec.dataset, root, cfg.data, tasks, cfg.data.train_split)
    everything = next(batches_of(train, len(train))())
    values = {
        t.name: constant_output(t, everything["targets"][t.name], everything["masks"].get(t.name))
        for t in tasks
    }
    ev = cfg.evaluation
    images = open_split(spec.dataset, root, cfg.data, tasks, ev.split, limit=ev.n_images)
    (main,) = tasks
    scores = evaluate(
        ConstantPredictor(values),
        batches_of(images, ev.batch_size)(),
        tasks=tasks,
        evals=["clean"],
        attacked=[main],
        report=[main],
        device="cpu",
        seed=spec.seed,
    ).metrics
    return scores["clean"][main.name][main.primary_metric]


SMOKE = smoke_baselines()


@pytest.mark.parametrize(("sweep", "spec"), SMOKE, ids=[f"{w}-{s.label}" for w, s in SMOKE])
def test_a_smoke_baseline_beats_the_constant_predictor(sweep, spec, tmp_path):
    result = run_trial(spec, tmp_path, threads=1)
    (main,) = spec.main_tasks
    task = next(t for t in data_uses([spec])[0].tasks if t.name == main)
    metric = task.primary_metric
    ours, constant = result.metrics[f"clean/{main}/{metric}"], constant_metric(spec)
    better = ours > constant if task.higher_is_better[metric] else ours < constant
    assert better, f"{sweep} {main}: {metric} {ours:.4f}, constant predictor {constant:.4f}"
