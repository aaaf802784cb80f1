"""``estimate``: the device-hours and wall time of a sweep, before anyone pays for them.

A few training steps and attack steps of the preset's model are timed on this machine's
device, at the preset's batch sizes and image size, through the trial's own code
(``train_one_epoch`` and ``attacks.evaluation.evaluate``); or the user gives the seconds
of one training step. They are multiplied by the steps each trial takes: epochs × training
batches (the split's size counted from the data root or packed manifest, else the paper's
known counts, :data:`KNOWN_COUNTS`), and, per evaluation, its attack steps over the
evaluation images, plus the checkpoints the preset's spacing writes. What is not counted:
data loading (assumed to keep up: see ``mtsweep prepare``), pictures and extra measures
(output dimensionality).
"""

from __future__ import annotations

import logging
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from attacks.eval_names import parse_eval
from attacks.evaluation import evaluate
from models import MultiTaskLoss, build_model
from orchestrator.sweep.plan import Plan
from orchestrator.trial.checkpoints import save_checkpoint
from orchestrator.trial.data import ensure_data, image_size, make_reader, selection
from orchestrator.trial.run import pick_device
from orchestrator.trial.training import (
    adversarial_inputs,
    clean_inputs,
    make_optimizer,
    train_one_epoch,
)
from sweeps.presets import (
    AdversarialConfig,
    DataConfig,
    EvalConfig,
    ModelConfig,
    TrainConfig,
    parse_block,
)
from sweeps.spec import TrialSpec
from tasks.batches import Batch, collate
from tasks.errors import MtsweepError
from tasks.packed import is_packed, read_manifest
from tasks.registry import Task, get_task

log = logging.getLogger(__name__)

ESTIMATED = "≈25 buildings × ~9.4k views (one building, Cauthron, has 9,464; docs/formats.md §6)"
# Samples per split at paper scale, used when no data root is given: (count, source).
KNOWN_COUNTS: dict[tuple[str, str | None, str], tuple[int, str]] = {
    ("taskonomy", "tiny", "train"): (235_000, "an estimate: " + ESTIMATED),
    ("taskonomy", "tiny", "val"): (47_000, "an estimate: ≈5 buildings × ~9.4k views"),
    ("taskonomy", "tiny", "test"): (47_000, "an estimate: ≈5 buildings × ~9.4k views"),
    ("cityscapes", None, "train"): (2975, "Cityscapes fine: 2975 train (Cordts et al. 2016)"),
    ("cityscapes", None, "val"): (500, "Cityscapes fine: 500 val (Cordts et al. 2016)"),
    ("cityscapes", None, "test"): (1525, "Cityscapes fine: 1525 test (Cordts et al. 2016)"),
}
# With --step-time, per image: an attack step (forward + input gradient) costs about 2/3 of
# a training step (forward + both gradients + update), a forward pass about 1/3.
ATTACK_PER_TRAIN = 2 / 3
FORWARD_PER_TRAIN = 1 / 3
REPEATS = 3  # timings per measurement; the median is kept
SLOW_S = 2.0  # a warm-up slower than this is timed once (paper models on a CPU)


class EstimateError(MtsweepError):
    """An estimate that cannot be made from what was given."""


@dataclass(frozen=True)
class StepTimes:
    """Seconds per step of one kind of model, measured or derived from --step-time."""

    train: float  # one training step at the training batch size
    attack: float  # one attack step at the evaluation batch size
    forward: float  # one evaluation forward pass (with metrics) at the evaluation batch size
    checkpoint: float = 0.0  # saving model and optimizer state once


@dataclass(frozen=True)
class TrialCost:
    spec: TrialSpec
    train_steps: int
    train_s: float
    eval_images: int
    eval_s: float


@dataclass
class Estimate:
    """Per-trial costs and the sweep's totals; ``device`` says where the steps were timed."""

    device: str
    trials: list[TrialCost]
    counts: dict[str, tuple[int, str]]
    times: dict[tuple, StepTimes]
    gpus: int
    gpus_per_trial: float
    notes: list[str] = field(default_factory=list)

    @property
    def train_s(self) -> float:
        """Training seconds of the sweep: each model (model_key) is trained once."""
        once = {c.spec.model_key: c.train_s for c in self.trials}
        return sum(once.values())

    @property
    def eval_s(self) -> float:
        return sum(c.eval_s for c in self.trials)

    @property
    def device_s(self) -> float:
        return self.train_s + self.eval_s

    @property
    def wall_s(self) -> float:
        """Longest-first schedule of the models (training then their trials' evaluations)
        over the slots of ``gpus`` devices, trials sharing a device splitting its speed."""
        jobs: dict[str, float] = {}
        for c in self.trials:
            jobs.setdefault(c.spec.model_key, c.train_s)
            jobs[c.spec.model_key] += c.eval_s
        g = self.gpus_per_trial
        per_device = max(1, math.floor(1 / g)) if 0 < g < 1 else 1
        slowdown = per_device if g < 1 else 1.0
        slots = [0.0] * (max(1, self.gpus) * per_device)
        for d in sorted(jobs.values(), reverse=True):
            i = min(range(len(slots)), key=slots.__getitem__)
            slots[i] += d * slowdown
        return max(slots)

    def report(self) -> str:
        h = 3600.0
        kind = "GPU" if self.device.startswith("cuda") else "device"
        lines = [f"steps timed on {self.device}"]
        lines += self.notes
        for key, t in self.times.items():
            lines.append(
                f"  {_group_name(key)}: train {t.train:.3g} s/step, attack {t.attack:.3g} s/step, "
                f"eval forward {t.forward:.3g} s/batch"
            )
        for split, (n, source) in self.counts.items():
            lines.append(f"  {split}: {n} samples ({source})")
        lines.append(f"per trial ({len(self.trials)} trials):")
        for c in self.trials:
            lines.append(
                f"  {c.spec.label}: train {c.train_s / h:.3g} h ({c.train_steps} steps), "
                f"eval {c.eval_s / h:.3g} h ({c.eval_images} images × "
                f"{','.join(c.spec.evals)})"
            )
        models = len({c.spec.model_key for c in self.trials})
        lines.append(
            f"sweep: {self.device_s / h:.4g} {kind}-hours ({models} models trained "
            f"{self.train_s / h:.4g} h, evaluations {self.eval_s / h:.4g} h); wall "
            f"{self.wall_s / h:.4g} h on {self.gpus} {kind}(s) at {self.gpus_per_trial:g} "
            f"per trial"
        )
        return "\n".join(lines)


def _group_name(key: tuple) -> str:
    arch, n_tasks, adversarial = key
    adv = f", adversarial {adversarial}" if adversarial else ""
    return f"{arch} with {n_tasks} task(s){adv}"


# --------------------------------------------------------------------------- counting


def split_counts(
    dataset: str, data: DataConfig, tasks: list[Task], splits: Sequence[str]
) -> dict[str, tuple[int, str]]:
    """Samples of each split: from a packed manifest, a data root, or the known counts."""
    root = data.packed or data.root
    if root and is_packed(root):
        found = read_manifest(Path(root))["splits"]
        return {s: (found[s]["count"], f"packed {root}") for s in splits if s in found} | {
            s: _known(dataset, data, s) for s in splits if s not in found
        }
    if data.source == "synthetic" or (root and Path(root).is_dir()):
        root = ensure_data(dataset, data)
        return {
            s: (len(make_reader(dataset, root, data, tasks, s, cache=False)), str(root))
            for s in splits
        }
    return {s: _known(dataset, data, s) for s in splits}


def _known(dataset: str, data: DataConfig, split: str) -> tuple[int, str]:
    key = (dataset, selection(data).get("split_set"), split)
    if dataset == "taskonomy" and key[1] is None:
        key = (dataset, "tiny", split)
    if key not in KNOWN_COUNTS:
        raise EstimateError(
            f"no known size of the {dataset} {split} split; pass --data-root to count it"
        )
    return KNOWN_COUNTS[key]


# --------------------------------------------------------------------------- timing


def _batch(dataset: str, data: DataConfig, tasks: list[Task], size: int) -> Batch:
    """One real sample at the trial's size (from tiny synthetic files), as a template."""
    tiny = DataConfig(source="synthetic", n=8, size=16, seed=0, image_size=size)
    root = ensure_data(dataset, tiny)
    reader = make_reader(dataset, root, tiny, tasks, "train", cache=False)
    sample = reader[0]
    return {k: sample[k] for k in ("image", "targets", "masks")}


def _repeat(sample: Batch, n: int) -> Batch:
    return collate([sample] * n)


def _timed(fn: Callable[[], object], device: torch.device, reps: int = REPEATS) -> float:
    """The median of ``reps`` runs: what a long run sees, less the odd stall."""
    times = []
    for _ in range(reps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_steps(spec: TrialSpec, device: torch.device, steps: int = 2) -> StepTimes:
    """Seconds of a training step, an attack step and an evaluation forward of ``spec``'s
    model, each the median of a few runs after an untimed warm-up."""
    data = parse_block(DataConfig, spec.data, "data")
    cfg = parse_block(TrainConfig, spec.train, "train")
    ev = parse_block(EvalConfig, spec.evaluation, "evaluation")
    model_cfg = parse_block(ModelConfig, spec.model, "model")
    tasks = [get_task(spec.dataset, n, convention=data.convention) for n in spec.train_tasks]
    attacked = [t for t in tasks if t.name in spec.attacked]
    sample = _batch(spec.dataset, data, tasks, image_size(spec.dataset, data))
    torch.manual_seed(spec.seed)
    model = build_model(spec.arch, tasks, width=model_cfg.width).to(device)
    if cfg.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if cfg.compile and device.type == "cuda" else model
    criterion = MultiTaskLoss(tasks, spec.weights)
    optimizer = make_optimizer(cfg, model.parameters())
    make_inputs = clean_inputs
    if spec.adversarial:
        adv = parse_block(AdversarialConfig, spec.adversarial, "adversarial").eval
        targets = tasks if parse_eval(adv).multitask else attacked[:1]
        make_inputs = adversarial_inputs(model, adv, targets, spec.weights)
    train_batch = _repeat(sample, cfg.batch_size)
    run_cfg = replace(cfg, max_steps_per_epoch=None)

    def train(n: int) -> None:
        loader = [train_batch] * n
        train_one_epoch(
            model, forward, criterion, optimizer, loader, device, run_cfg, 0, make_inputs
        )

    reps = 1 if _timed(lambda: train(1), device, 1) > SLOW_S else REPEATS
    t_train = _timed(lambda: train(steps), device, reps) / steps
    with tempfile.TemporaryDirectory() as tmp:
        state = {"epoch": 1, "model": model.state_dict(), "optimizer": optimizer.state_dict()}
        t_checkpoint = _timed(lambda: save_checkpoint(Path(tmp), state), device, reps)
    eval_batch = _repeat(sample, ev.batch_size)
    attack_name = f"pgd{steps}_eps4" + ("_mt" if len(attacked) > 1 else "")

    def run(evals: list[str]) -> None:
        quiet = logging.getLogger("attacks")
        level, quiet.level = quiet.level, logging.WARNING
        try:
            evaluate(model, [eval_batch], tasks, evals, attacked, attacked, device, seed=0)
        finally:
            quiet.setLevel(level)

    run(["clean"])
    t_forward = _timed(lambda: run(["clean"]), device, reps)
    run([attack_name])
    t_attacked = _timed(lambda: run([attack_name]), device, reps)
    t_attack = max(t_attacked - t_forward, 0.0) / steps
    return StepTimes(t_train, t_attack, t_forward, t_checkpoint)


def derived_times(step_time: float, train_batch: int, eval_batch: int) -> StepTimes:
    per_image = step_time / train_batch
    return StepTimes(
        train=step_time,
        attack=per_image * eval_batch * ATTACK_PER_TRAIN,
        forward=per_image * eval_batch * FORWARD_PER_TRAIN,
    )


def _group(spec: TrialSpec) -> tuple:
    adversarial = (spec.adversarial or {}).get("eval")
    return (spec.arch, len(spec.train_tasks), adversarial)


def _interpolated(times: dict[tuple, StepTimes], key: tuple) -> StepTimes:
    """Times of a task count between two measured ones (each decoder adds about the same)."""
    arch, n, adv = key
    known = sorted(k[1] for k in times if k[0] == arch and k[2] == adv)
    lo = max((k for k in known if k <= n), default=known[0])
    hi = min((k for k in known if k >= n), default=known[-1])
    a, b = times[(arch, lo, adv)], times[(arch, hi, adv)]
    w = 0.0 if hi == lo else (n - lo) / (hi - lo)
    return StepTimes(
        *(x + w * (y - x) for x, y in zip(vars(a).values(), vars(b).values(), strict=True))
    )


# --------------------------------------------------------------------------- the estimate


def estimate(
    plan: Plan,
    gpus: int = 1,
    step_time: float | None = None,
    steps: int = 2,
    device: torch.device | None = None,
) -> Estimate:
    """The cost of every trial of ``plan`` and of the whole sweep."""
    if not plan.specs:
        raise EstimateError(f"sweep {plan.sweep.name!r} has no trials to estimate")
    device = device or pick_device()
    first = plan.specs[0]
    data = parse_block(DataConfig, first.data, "data")
    names = sorted({n for s in plan.specs for n in s.train_tasks})
    tasks = [get_task(first.dataset, n, convention=data.convention) for n in names]
    splits = sorted(
        {data.train_split}
        | {parse_block(EvalConfig, s.evaluation, "evaluation").split for s in plan.specs}
    )
    counts = split_counts(first.dataset, data, tasks, splits)
    notes = []
    times: dict[tuple, StepTimes] = {}
    if step_time is not None:
        cfg = parse_block(TrainConfig, first.train, "train")
        ev = parse_block(EvalConfig, first.evaluation, "evaluation")
        times = {_group(first): derived_times(step_time, cfg.batch_size, ev.batch_size)}
        notes.append(
            f"  (--step-time {step_time:g} s per training step for every model; attack step "
            f"= {ATTACK_PER_TRAIN:.2g} and forward = {FORWARD_PER_TRAIN:.2g} of it per image)"
        )
        where = "(given)"
    else:
        threads = torch.get_num_threads()
        where = f"{device}" + (f" ({threads} threads)" if device.type == "cpu" else "")
        if device.type == "cuda":
            where += f" {torch.cuda.get_device_name(device)}"
        else:
            notes.append("  (CPU: these are CPU-hours; a GPU would be far faster)")
        for key in _measured_groups(plan.specs):
            spec = next(s for s in plan.specs if _group(s) == key)
            log.info("timing %s at %s", _group_name(key), where)
            times[key] = time_steps(spec, device, steps)
    costs = []
    for spec in plan.specs:
        t = times.get(_group(spec)) or (
            next(iter(times.values()))
            if step_time is not None
            else _interpolated(times, _group(spec))
        )
        costs.append(_trial_cost(spec, t, counts))
    resources = plan.resources
    return Estimate(
        device=where,
        trials=costs,
        counts=counts,
        times=times,
        gpus=gpus,
        gpus_per_trial=resources.gpus_per_trial,
        notes=notes,
    )


def _measured_groups(specs: Sequence[TrialSpec]) -> list[tuple]:
    """The fewest and most tasks per (arch, adversarial); counts between are interpolated."""
    groups: dict[tuple, set[int]] = {}
    for s in specs:
        arch, n, adv = _group(s)
        groups.setdefault((arch, adv), set()).add(n)
    return [
        (arch, n, adv) for (arch, adv), ns in groups.items() for n in sorted({min(ns), max(ns)})
    ]


def _trial_cost(spec: TrialSpec, t: StepTimes, counts: dict[str, tuple[int, str]]) -> TrialCost:
    data = parse_block(DataConfig, spec.data, "data")
    cfg = parse_block(TrainConfig, spec.train, "train")
    ev = parse_block(EvalConfig, spec.evaluation, "evaluation")
    n_train = counts[data.train_split][0]
    per_epoch = n_train // cfg.batch_size if n_train > cfg.batch_size else 1
    if cfg.max_steps_per_epoch is not None:
        per_epoch = min(per_epoch, cfg.max_steps_per_epoch)
    train_steps = per_epoch * cfg.epochs
    train_s = train_steps * t.train
    every = max(cfg.checkpoint_every_s, train_s / cfg.epochs)  # at most once an epoch
    checkpoints = min(cfg.epochs, 1 + math.floor(train_s / every)) if train_s else 1
    n_eval = counts[ev.split][0]
    if ev.n_images is not None:
        n_eval = min(n_eval, ev.n_images)
    batches = math.ceil(n_eval / ev.batch_size)
    attack_steps = sum(_attack_steps(e) for e in spec.evals)
    eval_s = batches * (len(spec.evals) * t.forward + attack_steps * t.attack)
    return TrialCost(spec, train_steps, train_s + checkpoints * t.checkpoint, n_eval, eval_s)


def _attack_steps(name: str) -> int:
    e = parse_eval(name)
    if e.is_clean:
        return 0
    return max(e.steps, 1)  # FGSM: one step
