"""``estimate``: the device-hours and wall time of a sweep, before anyone pays for them.

With ``--device NAME`` nothing is timed: each kind of model's steps are counted in FLOPs on
the meta device (:mod:`orchestrator.trial.step_cost`) and turned into seconds at a stated
fraction of that accelerator's datasheet peak (:mod:`orchestrator.sweep.accelerators`); the
memory a trial holds says how many trials share a card. Otherwise a few training steps and attack steps of each kind of model are timed on this machine's
device through the trial's own set-up and loops (:mod:`orchestrator.trial.timing`), or the
user gives the seconds of one training step. They are multiplied by the steps each trial
takes: epochs × training batches (the split's size counted from the data root or packed
manifest, else the dataset's known size at paper scale), and, per evaluation, its attack
steps over the evaluation images, plus the checkpoints the preset's spacing writes. What
is not counted: data loading (assumed to keep up: see ``mtsweep prepare``), pictures and
extra measures (output dimensionality).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from attacks.eval_names import parse_eval
from mtsweep.errors import MtsweepError
from mtsweep.shared_storage import is_uri
from orchestrator.sweep.accelerators import GIB, Accelerator
from orchestrator.sweep.plan import Plan
from orchestrator.trial.data import DataUse, data_uses, ensure_data, make_reader, packed_uri
from orchestrator.trial.memory_cap import available_memory, memory_cap, out_of_memory
from orchestrator.trial.setup import pick_device
from orchestrator.trial.step_cost import StepCost, count_trial_steps
from orchestrator.trial.timing import StepTimes, time_steps
from sweeps.spec import TrialSpec
from tasks.datasets import get_dataset
from tasks.packed.manifest import is_packed, read_manifest
from tasks.packed.remote import require_manifest

log = logging.getLogger(__name__)

# With --step-time, per image: an attack step (forward + input gradient) costs about 2/3 of
# a training step (forward + both gradients + update), a forward pass about 1/3.
ATTACK_PER_TRAIN = 2 / 3
FORWARD_PER_TRAIN = 1 / 3
# The share of a GPU's dense peak a training step achieves, when the user states none: an
# assumption (ResNet-style convolutional nets at these sizes), not a measurement.
DEFAULT_EFFICIENCY = 0.3
CPU_SHARE = 0.9  # of a CPU machine's available memory, a timed step may take


class EstimateError(MtsweepError):
    """An estimate that cannot be made from what was given."""


def duration(seconds: float) -> str:
    """Seconds as a person reads them: ``13 s``, ``4.2 min``, ``3.5 h``, ``1791 h``."""
    if seconds < 90:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.2g} min" if seconds < 600 else f"{seconds / 60:.0f} min"
    hours = seconds / 3600
    return f"{hours:.2g} h" if hours < 10 else f"{hours:.0f} h"


@dataclass(frozen=True)
class TrialCost:
    spec: TrialSpec
    train_steps: int
    train_s: float
    eval_images: int
    eval_s: float


@dataclass(frozen=True)
class Slots:
    """Trials that run side by side, and how much slower each runs for sharing its device."""

    count: int
    slowdown: float
    described: str  # e.g. "2 CPUs at 1 CPU per trial: 2 side by side"


def slots_of(
    device: str, gpus: int, gpus_per_trial: float, cpus: int, cpus_per_trial: float
) -> Slots:
    """On GPUs: whole-GPU trials one per card, fractional ones ``1/fraction`` per card, each
    assumed that many times slower (they share its compute). On CPUs: as many trials as
    their CPU booking fits, each on its own cores (a trial computes on one thread, timed so)."""
    if device == "cpu":
        n = max(1, math.floor(cpus / cpus_per_trial))
        return Slots(n, 1.0, f"{cpus} CPU(s) at {cpus_per_trial:g} per trial: {n} side by side")
    if 0 < gpus_per_trial < 1:
        per_card = max(1, math.floor(1 / gpus_per_trial))
        return Slots(
            gpus * per_card,
            float(per_card),
            f"{gpus} GPU(s) at {gpus_per_trial:g} per trial: {per_card} per card, each "
            f"{per_card}× slower",
        )
    return Slots(gpus, 1.0, f"{gpus} GPU(s) at {max(gpus_per_trial, 1):g} per trial")


@dataclass
class Estimate:
    """Per-trial costs and the sweep's totals; ``device`` says where the steps were timed
    (or that they were given, or predicted)."""

    device: str
    trials: list[TrialCost]
    counts: dict[str, tuple[int, str]]
    times: dict[tuple, StepTimes]
    slots: Slots
    kind: str = "device"  # what the hours are of: "GPU", "CPU" or "device"
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
        over the slots, each job slowed by its slot's sharing."""
        jobs: dict[str, float] = {}
        for c in self.trials:
            jobs.setdefault(c.spec.model_key, c.train_s)
            jobs[c.spec.model_key] += c.eval_s
        slots = [0.0] * self.slots.count
        for d in sorted(jobs.values(), reverse=True):
            i = min(range(len(slots)), key=slots.__getitem__)
            slots[i] += d * self.slots.slowdown
        return max(slots)

    def report(self) -> str:
        lines = [self.device, *self.notes]
        for key, t in self.times.items():
            lines.append(
                f"  {_group_name(key)}: train {duration(t.train)}/step, attack "
                f"{duration(t.attack)}/step, eval forward {duration(t.forward)}/batch"
            )
        for split, (n, source) in self.counts.items():
            lines.append(f"  {split}: {n} samples ({source})")
        lines.append(f"per kind of model ({len(self.trials)} trials):")
        for key, costs in _by_group(self.trials).items():
            models = {c.spec.model_key: c for c in costs}
            steps = sorted({c.train_steps for c in models.values()})
            images = sorted({c.eval_images for c in costs})
            lines.append(
                f"  {_group_name(key)}: {len(models)} model(s), {len(costs)} trial(s); "
                f"training {_span([c.train_s for c in models.values()])} each "
                f"({_span(steps, str)} steps), evaluation "
                f"{_span([c.eval_s for c in costs])} per trial "
                f"({_span(images, str)} images × its evaluations)"
            )
        models = len({c.spec.model_key for c in self.trials})
        lines.append(
            f"sweep: {_device_time(self.device_s, self.kind)} ({models} models trained "
            f"in {duration(self.train_s)}, evaluations {duration(self.eval_s)}); wall "
            f"{duration(self.wall_s)} on {self.slots.described}"
        )
        return "\n".join(lines)


def _device_time(seconds: float, kind: str) -> str:
    """``13,490 GPU-hours`` or ``3.5 GPU-hours``; below 0.1 h, ``90 s of CPU time``."""
    hours = seconds / 3600
    if hours < 0.1:
        return f"{duration(seconds)} of {kind} time"
    return f"{hours:,.0f} {kind}-hours" if hours >= 100 else f"{hours:.2g} {kind}-hours"


def _span(values: Sequence, show=duration) -> str:
    """One value, or the range of several."""
    lo, hi = min(values), max(values)
    return show(lo) if show(lo) == show(hi) else f"{show(lo)}–{show(hi)}"


def _group(spec: TrialSpec) -> tuple:
    adversarial = spec.config.adversarial.eval if spec.config.adversarial else None
    return (spec.arch, len(spec.train_tasks), adversarial)


def _group_name(key: tuple) -> str:
    arch, n_tasks, adversarial = key
    adv = f", adversarial {adversarial}" if adversarial else ""
    return f"{arch} with {n_tasks} task(s){adv}"


def _by_group(costs: Sequence[TrialCost]) -> dict[tuple, list[TrialCost]]:
    groups: dict[tuple, list[TrialCost]] = {}
    for c in costs:
        groups.setdefault(_group(c.spec), []).append(c)
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")))


# --------------------------------------------------------------------------- counting


def split_counts(use: DataUse) -> dict[str, tuple[int, str]]:
    """Samples of each split: from a packed manifest, a data root, or the dataset's known
    size at paper scale."""
    data = use.data
    root = packed_uri(data) or data.packed or data.root
    if root and (is_uri(root) or is_packed(root)):  # a manifest: read it, nothing else
        found = (require_manifest(root) if is_uri(root) else read_manifest(Path(root)))["splits"]
        return {s: (found[s]["count"], f"packed {root}") for s in use.splits if s in found} | {
            s: _known(use, s) for s in use.splits if s not in found
        }
    if data.source == "synthetic" or (root and Path(root).is_dir()):
        root = ensure_data(use.dataset, data)
        tasks = list(use.tasks)
        return {
            s: (len(make_reader(use.dataset, root, data, tasks, s, cache=False)), str(root))
            for s in use.splits
        }
    return {s: _known(use, s) for s in use.splits}


def _known(use: DataUse, split: str) -> tuple[int, str]:
    known = get_dataset(use.dataset).split_sizes
    if split not in known:
        raise EstimateError(
            f"no known size of the {use.dataset} {split} split; pass --data-root to count it"
        )
    return known[split]


# --------------------------------------------------------------------------- timing


def derived_times(step_time: float, train_batch: int, eval_batch: int) -> StepTimes:
    per_image = step_time / train_batch
    return StepTimes(
        train=step_time,
        attack=per_image * eval_batch * ATTACK_PER_TRAIN,
        forward=per_image * eval_batch * FORWARD_PER_TRAIN,
    )


def predicted_times(
    specs: Sequence[TrialSpec], accelerator: Accelerator, efficiency: float
) -> tuple[dict[tuple, StepTimes], dict[tuple, StepCost]]:
    """Step times of each kind of model on ``accelerator`` at ``efficiency`` of its peak,
    from FLOPs counted without running anything; and the counts they came from."""
    times, costs = {}, {}
    for key in _measured_groups(specs):
        spec = next(s for s in specs if _group(s) == key)
        cost = costs[key] = count_trial_steps(spec)
        amp = spec.config.train.amp
        times[key] = StepTimes(
            train=accelerator.seconds(cost.train_flops, amp, efficiency),
            attack=accelerator.seconds(cost.attack_flops, False, efficiency),
            forward=accelerator.seconds(cost.forward_flops, False, efficiency),
        )
    return times, costs


def memory_notes(costs: dict[tuple, StepCost], accelerator: Accelerator) -> list[str]:
    """Per kind of model: the memory a trial holds, and the --gpus-per-trial that packs the
    most trials on one card (or that it does not fit)."""
    lines = []
    for key, cost in costs.items():
        need = max(cost.train_bytes, cost.eval_bytes)
        fits = accelerator.trials_per_device(need)
        advice = (
            f"does not fit in {accelerator.memory_gib:g} GiB: lower train.batch_size"
            if fits == 0
            else f"{fits} per card: --gpus-per-trial {1 / fits:g}"
        )
        lines.append(
            f"  {_group_name(key)}: {cost.train_flops / 1e12:.3g} TFLOP/training step, "
            f"≈{need / GIB:.3g} GiB per trial (training {cost.train_bytes / GIB:.3g}, "
            f"attack {cost.eval_bytes / GIB:.3g}); {advice}"
        )
    return lines


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


def _measured_groups(specs: Sequence[TrialSpec]) -> list[tuple]:
    """The fewest and most tasks per (arch, adversarial); counts between are interpolated."""
    groups: dict[tuple, set[int]] = {}
    for s in specs:
        arch, n, adv = _group(s)
        groups.setdefault((arch, adv), set()).add(n)
    return [
        (arch, n, adv) for (arch, adv), ns in groups.items() for n in sorted({min(ns), max(ns)})
    ]


def free_memory(device: torch.device) -> int:
    """Bytes the device can still give a timed step: the GPU's free memory, or a share of
    what the kernel reports available on a CPU (the rest for the system beside it)."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    return int(available_memory() * CPU_SHARE)


def too_big(name: str, need: int, free: int, device: torch.device) -> EstimateError:
    """The refusal to time a model whose steps need more memory than ``device`` has free
    (``need`` ≤ ``free``: the steps were counted to fit but ran out of memory, even at 1)."""
    needs = f"≈{need / GIB:.3g} GiB" if need > free else "more than that at batch 1"
    return EstimateError(
        f"timing {name} here needs {needs}, and {device} has "
        f"{free / GIB:.3g} GiB free: predict for a GPU instead (--device h100, see "
        "--help) or give the seconds of one step (--step-time S)"
    )


def with_batches(spec: TrialSpec, train: int, evaluation: int) -> TrialSpec:
    return replace(
        spec,
        train={**spec.train, "batch_size": train},
        evaluation={**spec.evaluation, "batch_size": evaluation},
    )


def scaled(times: StepTimes, timed: TrialSpec, spec: TrialSpec) -> StepTimes:
    """Step times at ``timed``'s batch sizes, as at ``spec``'s."""
    train = spec.config.train.batch_size / timed.config.train.batch_size
    evaluation = spec.config.evaluation.batch_size / timed.config.evaluation.batch_size
    return replace(
        times,
        train=times.train * train,
        attack=times.attack * evaluation,
        forward=times.forward * evaluation,
    )


def time_within_memory(
    name: str, spec: TrialSpec, device: torch.device, steps: int, free: int
) -> tuple[StepTimes, str | None]:
    """``spec``'s step times, and a note when they were not timed as they stand.

    The bytes autograd keeps (counted on the meta device) must fit in ``free``: on a GPU
    the model is refused otherwise (its time per image depends on the batch). On a CPU,
    where one thread's time grows about linearly with the batch, the batch sizes are
    halved until the counted bytes fit and then until the steps run under a memory cap
    (a CPU's kernels take buffers beyond what autograd keeps: DRN-D-105's were about 3x);
    the times are scaled back to the preset's batch sizes.
    """
    cfg = spec.config
    train, evaluation = cfg.train.batch_size, cfg.evaluation.batch_size
    timed = spec
    while True:
        cost = count_trial_steps(timed)
        need = max(cost.train_bytes, cost.eval_bytes)
        fits = need <= free
        if fits and device.type != "cpu":
            return time_steps(timed, device, steps), None
        if fits:
            try:
                with memory_cap(free):
                    times = time_steps(timed, device, steps)
                break
            except (MemoryError, RuntimeError) as e:
                if not out_of_memory(e):
                    raise
                log.info("%s: out of memory at batch %d/%d, halving", name, train, evaluation)
        if device.type != "cpu" or max(train, evaluation) == 1:
            raise too_big(name, need, free, device)
        train, evaluation = max(1, train // 2), max(1, evaluation // 2)
        timed = with_batches(spec, train, evaluation)
    if timed is spec:
        return times, None
    return scaled(times, timed, spec), (
        f"  ({name}: timed at batch {train} (training) and {evaluation} (evaluation) to fit "
        f"in {free / GIB:.3g} GiB, then scaled to the preset's {cfg.train.batch_size} and "
        f"{cfg.evaluation.batch_size})"
    )


def _measure(
    specs: Sequence[TrialSpec], device: torch.device, steps: int
) -> tuple[dict, list[str]]:
    """Step times of each measured kind of model (:func:`time_within_memory`); on a CPU
    with one thread, as a trial computes (its other CPUs read data)."""
    threads = torch.get_num_threads()
    if device.type == "cpu":
        torch.set_num_threads(1)
    try:
        times, notes = {}, []
        for key in _measured_groups(specs):
            spec = next(s for s in specs if _group(s) == key)
            log.info("timing %s on %s", _group_name(key), device)
            free = free_memory(device)
            times[key], note = time_within_memory(_group_name(key), spec, device, steps, free)
            notes += [note] if note else []
        return times, notes
    finally:
        torch.set_num_threads(threads)


# --------------------------------------------------------------------------- the estimate


def estimate(
    plan: Plan,
    gpus: int = 1,
    step_time: float | None = None,
    steps: int = 2,
    device: torch.device | None = None,
    cpus: int | None = None,
    accelerator: Accelerator | None = None,
    efficiency: float = DEFAULT_EFFICIENCY,
) -> Estimate:
    """The cost of every trial of ``plan`` and of the whole sweep, on ``gpus`` GPUs (when
    timed on a GPU or given ``step_time``) or ``cpus`` CPUs (timed on this CPU; default:
    this machine's), or predicted for ``accelerator`` (nothing timed)."""
    if not plan.specs:
        raise EstimateError(f"sweep {plan.sweep.name!r} has no trials to estimate")
    counts: dict[str, tuple[int, str]] = {}
    for use in data_uses(plan.specs):
        counts |= split_counts(use)
    notes = []
    res = plan.resources
    if step_time is not None:
        first = plan.specs[0].config
        times = {
            _group(plan.specs[0]): derived_times(
                step_time, first.train.batch_size, first.evaluation.batch_size
            )
        }
        notes.append(
            f"  (--step-time {step_time:g} s per training step for every model; attack step "
            f"= {ATTACK_PER_TRAIN:.2g} and forward = {FORWARD_PER_TRAIN:.2g} of it per image)"
        )
        where, kind, on = "step time given (--step-time)", "GPU", "cuda"
    elif accelerator is not None:
        times, step_costs = predicted_times(plan.specs, accelerator, efficiency)
        where = f"nothing timed: predicted for {accelerator.label}"
        kind, on = "GPU", "cuda"
        notes.append(
            f"  (an estimate: FLOPs counted on the meta device ÷ {efficiency:.0%} of the dense "
            f"peak, {accelerator.bf16_tflops:g} TFLOP/s bf16 for train.amp trials and "
            f"{accelerator.tf32_tflops:g} TFLOP/s TF32 otherwise ({accelerator.source}); "
            "data loading, checkpoints and kernel launch gaps not counted; calibrate the "
            "fraction with --efficiency from one measured step)"
        )
        notes += memory_notes(step_costs, accelerator)
    else:
        device = device or pick_device()
        times, fitted = _measure(plan.specs, device, steps)
        where, kind, on = f"steps timed on {device}", "device", device.type
        if device.type == "cuda":
            where = f"steps timed on {device} {torch.cuda.get_device_name(device)}"
            kind = "GPU"
        else:
            where = "steps timed on cpu (1 thread per trial, as trials compute)"
            kind = "CPU"
            notes.append("  (CPU: these are CPU-hours; a GPU would be far faster)")
        notes += fitted
    costs = []
    for spec in plan.specs:
        t = times.get(_group(spec)) or (
            next(iter(times.values()))
            if step_time is not None
            else _interpolated(times, _group(spec))
        )
        costs.append(_trial_cost(spec, t, counts))
    slots = slots_of(on, gpus, res.gpus_per_trial, cpus or os.cpu_count() or 1, res.cpus_per_trial)
    return Estimate(
        device=where, trials=costs, counts=counts, times=times, slots=slots, kind=kind, notes=notes
    )


def _trial_cost(spec: TrialSpec, t: StepTimes, counts: dict[str, tuple[int, str]]) -> TrialCost:
    cfg, ev = spec.config.train, spec.config.evaluation
    n_train = counts[spec.config.data.train_split][0]
    per_epoch = n_train // cfg.batch_size if n_train > cfg.batch_size else 1
    if cfg.max_steps_per_epoch is not None:
        per_epoch = min(per_epoch, cfg.max_steps_per_epoch)
    train_steps = per_epoch * cfg.epochs
    train_s = train_steps * t.train
    every = max(cfg.checkpoint_every_s, train_s / cfg.epochs) if cfg.epochs else 0.0
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
