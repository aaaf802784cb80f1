"""The per-trial measures of Fig. 4: their producers and the names of what they log.

A measure turns a trained model and its evaluation batches into metrics named
``<eval>/<task>/<metric>``, like every evaluation. The reductions find those metrics again
through the name helpers here, so each name is written and parsed in this one module.

- ``grad_norm`` (Fig. 4c, Theorem 1): the input-gradient norm of the joint loss of all
  trained tasks, ``vulnerability/joint/grad_norm``, and of each task alone,
  ``vulnerability/<task>/grad_norm``.
- ``output_dim`` (Fig. 4a–b): for each k, the gradient norm when only k random output pixels
  of the first attacked task count, ``outdim_k<k>/<task>/grad_norm``, and the pixel accuracy
  on those pixels after each configured attack, ``outdim_k<k>/<task>/<attack>_acc``.
- ``task_grad_l1`` (beyond the paper): E‖∇ₓL_t‖₁ of every trained task, clean and after
  each configured attack, ``task_grad_l1/<task>/<clean or attack>``; its own module,
  ``attacks.task_gradients``, adds it here (``attacks/__init__.py`` imports every module).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import lazy_loader

from attacks.eval_names import build_attack, parse_eval
from attacks.vulnerability import joint_gradient_norm, subset_attack_accuracy, subset_gradient_norm
from mtsweep.errors import MtsweepError
from mtsweep.registry import Registry
from tasks.batches import Batch
from tasks.registry import Task

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

log = logging.getLogger(__name__)

VULNERABILITY = "vulnerability"  # the eval part of the grad_norm measure's names
JOINT = "joint"  # the task part of the joint-loss gradient norm
GRAD_NORM = "grad_norm"  # the metric part of every gradient norm
_OUTDIM_EVAL = re.compile(r"^outdim_k(?P<k>[1-9]\d*)$")
_ACC_SUFFIX = "_acc"

BatchSource = Callable[[], Iterable[Batch]]  # a fresh pass over the evaluation batches per call


# --------------------------------------------------------------------------- names


def metric_name(eval_: str, task: str, metric: str) -> str:
    """The MLflow metric name ``<eval>/<task>/<metric>`` (docs/formats.md §1)."""
    return f"{eval_}/{task}/{metric}"


def grad_norm_metric(task: str = JOINT) -> str:
    """``vulnerability/<task>/grad_norm``; the joint loss of all trained tasks by default."""
    return metric_name(VULNERABILITY, task, GRAD_NORM)


def outdim_eval(k: int) -> str:
    """The eval part of the output-dimensionality metrics for k output pixels."""
    return f"outdim_k{int(k)}"


def parse_outdim_eval(name: str) -> int | None:
    """k of an ``outdim_k<k>`` eval name; None for any other name."""
    match = _OUTDIM_EVAL.match(name)
    return int(match["k"]) if match else None


def outdim_acc_metric(attack: str) -> str:
    """The metric part of the pixel accuracy after ``attack`` (an eval name)."""
    return f"{attack}{_ACC_SUFFIX}"


def parse_outdim_acc(metric: str) -> str | None:
    """The attack of an accuracy metric (``pgd5_eps4_acc`` → ``pgd5_eps4``); None otherwise."""
    return metric.removesuffix(_ACC_SUFFIX) if metric.endswith(_ACC_SUFFIX) else None


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class NoSettings:
    """The settings of a measure that takes none."""


@dataclass(frozen=True)
class OutputDimConfig:
    """Settings of the output-dimensionality measure: random pixel subsets per batch, the
    subset sizes k, and the attacks whose accuracy is measured (eval names)."""

    draws: int = field(default=20, metadata={"min": 1})
    ks: tuple[int, ...] = field(default=(1, 16, 256), metadata={"min": 1})
    attacks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """ValueError ``attacks: why`` for a name that is not an attack (the sweep loader
        prefixes the dotted path)."""
        for name in self.attacks:
            try:
                clean = parse_eval(name).is_clean
            except ValueError as err:
                raise ValueError(f"attacks: {err}") from None
            if clean:
                raise ValueError("attacks: list attacks, not 'clean'")


# --------------------------------------------------------------------------- producers

Compute = Callable[
    ["torch.nn.Module", BatchSource, Sequence[Task], Sequence[Task], Any, int],
    dict[str, float],
]


@dataclass(frozen=True)
class Measure:
    """A named producer: ``compute(model, batches, tasks, attacked, settings, seed)`` returns
    ``{metric name: value}``; ``tasks`` are the trained tasks, ``attacked`` the attacked ones.

    ``settings`` is the block type of its settings (a frozen dataclass the sweep loader
    checks like any preset block, under ``measures.<name>``); a sweep gives them by name.
    """

    name: str
    compute: Compute
    settings: type = NoSettings


def grad_norm(
    model: torch.nn.Module,
    batches: BatchSource,
    tasks: Sequence[Task],
    attacked: Sequence[Task],
    settings: NoSettings,
    seed: int,
) -> dict[str, float]:
    """Fig. 4c: the joint-loss gradient norm over all trained tasks, and each task's own.

    Deterministic and attack-free, so ``attacked`` and ``seed`` play no part.
    """
    out = {grad_norm_metric(): joint_gradient_norm(model, batches(), tasks)}
    for task in tasks:
        out[grad_norm_metric(task.name)] = joint_gradient_norm(model, batches(), [task])
    return out


def output_dim(
    model: torch.nn.Module,
    batches: BatchSource,
    tasks: Sequence[Task],
    attacked: Sequence[Task],
    settings: OutputDimConfig,
    seed: int,
) -> dict[str, float]:
    """Fig. 4a–b on the first attacked task: gradient norm and attacked accuracy when only
    k random output pixels count; a k above the image's pixel count is skipped."""
    task = attacked[0]
    image = next(iter(batches()))["image"]
    pixels = image.shape[-1] * image.shape[-2]
    attacks = {name: build_attack(parse_eval(name)) for name in settings.attacks}
    out = {}
    for k in settings.ks:
        if k > pixels:
            log.warning("output_dim: k=%d exceeds the %d output pixels; skipped", k, pixels)
            continue
        eval_ = outdim_eval(k)
        out[metric_name(eval_, task.name, GRAD_NORM)] = subset_gradient_norm(
            model, batches(), task, k, settings.draws, seed=seed
        )
        for name, attack in attacks.items():
            out[metric_name(eval_, task.name, outdim_acc_metric(name))] = subset_attack_accuracy(
                model, batches(), task, k, attack, settings.draws, seed=seed
            )
    return out


MEASURES: Registry[Measure] = Registry("measure", MtsweepError)
MEASURES.register("grad_norm", Measure("grad_norm", grad_norm))
MEASURES.register("output_dim", Measure("output_dim", output_dim, OutputDimConfig))
