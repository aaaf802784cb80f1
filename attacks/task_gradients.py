"""Per-task input-gradient norms, clean and at the attacked point (Ghamizi et al., AAAI 2022).

To first order an L∞ attack of size ε raises a loss by ε·‖∇ₓL‖₁ (the dual norm), and
Ghamizi et al. bound a multitask model's vulnerability by task weight × E‖∇ₓL_t‖₁, not by
the number of tasks. The measure ``task_grad_l1`` logs E‖∇ₓL_t‖₁ of every trained task t,
averaged over the evaluation images, at the clean image and at the point each configured
attack reaches (drawn exactly as that evaluation draws it), so a robustness gain can be
read beside whether the gradients shrank: ``task_grad_l1/<task>/clean`` and
``task_grad_l1/<task>/<attack eval>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import lazy_loader

from attacks.base import input_gradient
from attacks.eval_names import CLEAN, build_attack, parse_eval
from attacks.evaluation import attack_objective, eval_generator, eval_mode
from attacks.measures import MEASURES, BatchSource, Measure
from attacks.objectives import task_objective
from tasks.batches import Batch, to_device
from tasks.registry import Task

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

TASK_GRAD_L1 = "task_grad_l1"  # the measure's name and the eval part of its metrics


def task_grad_metric(task: str, at: str = CLEAN) -> str:
    """``task_grad_l1/<task>/<at>``: E‖∇ₓL_task‖₁ at the clean image or after attack ``at``."""
    return f"{TASK_GRAD_L1}/{task}/{at}"


@dataclass(frozen=True)
class TaskGradConfig:
    """Settings of ``task_grad_l1`` (``measures.task_grad_l1`` in a sweep): the attacks
    (eval names) at whose end points the gradients are measured; clean always is."""

    attacks: tuple[str, ...] = ("pgd10_eps4",)

    def __post_init__(self) -> None:
        """ValueError ``attacks: why`` for a name that is not one attack (the sweep loader
        prefixes the dotted path)."""
        for name in self.attacks:
            try:
                spec = parse_eval(name)
            except ValueError as err:
                raise ValueError(f"attacks: {err}") from None
            if spec.is_clean or spec.is_worst:
                raise ValueError(f"attacks: {name!r} is not one attack (clean is always measured)")


def _l1_norms(model: torch.nn.Module, task: Task, batch: Batch, x: torch.Tensor) -> torch.Tensor:
    target, mask = batch["targets"][task.name], batch["masks"].get(task.name)
    return input_gradient(task_objective(model, task, target, mask), x).abs().flatten(1).sum(1)


def task_gradient_norms(
    model: torch.nn.Module,
    batches: Iterable[Batch],
    tasks: Sequence[Task],
    attacked: Sequence[Task],
    attacks: Sequence[str],
    seed: int,
) -> dict[str, float]:
    """``{task_grad_metric(task, at): mean over images of ‖∇ₓL_task‖₁}`` for every task in
    ``tasks``, at the clean images and after each attack in ``attacks`` (eval names)."""
    device = next(model.parameters()).device
    specs = {name: parse_eval(name) for name in attacks}
    built = {name: build_attack(spec) for name, spec in specs.items()}
    generators = {name: eval_generator(seed, name) for name in attacks}
    norms: dict[str, list[torch.Tensor]] = {}
    with eval_mode(model):
        for raw in batches:
            batch = to_device(raw, device)
            points = {CLEAN: batch["image"]}
            for name, attack in built.items():
                objective = attack_objective(model, specs[name], attack, attacked, batch)
                points[name] = attack(batch["image"], objective, generators[name])
            for at, x in points.items():
                for task in tasks:
                    norms.setdefault(task_grad_metric(task.name, at), []).append(
                        _l1_norms(model, task, batch, x)
                    )
    return {name: torch.cat(values).mean().item() for name, values in norms.items()}


def task_grad_l1(
    model: torch.nn.Module,
    batches: BatchSource,
    tasks: Sequence[Task],
    attacked: Sequence[Task],
    settings: TaskGradConfig,
    seed: int,
) -> dict[str, float]:
    """The ``task_grad_l1`` measure (``attacks.measures.MEASURES``)."""
    return task_gradient_norms(model, batches(), tasks, attacked, settings.attacks, seed)


MEASURES.register(TASK_GRAD_L1, Measure(TASK_GRAD_L1, task_grad_l1, TaskGradConfig))
