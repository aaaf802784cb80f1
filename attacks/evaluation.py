"""Evaluate a model clean and under attacks: ``{eval: {task: {metric: value}}}``, and the
first input image as each evaluation saw it.

The batches are read once; every evaluation runs on each batch in turn. Each evaluation
draws its random starts from its own generator, seeded from the seed and its name, so its
numbers do not depend on which other evaluations run beside it. A worst case over attacks
(``worst_a-b``) runs its members as those evaluations would (same generators), once per
batch however many worst cases or plain evaluations list them, so it costs no more than
its members, and nothing when they are evaluated anyway.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import lazy_loader

from attacks.base import Attack, LossFn
from attacks.eval_names import EvalSpec, applies_to, build_attack, parse_eval
from attacks.objectives import houdini_objective, joint_objective, task_objective
from attacks.replay import authors_attack
from attacks.worst import worst_of
from mtsweep.errors import MtsweepError
from tasks.batches import Batch, to_device
from tasks.metrics import Meter
from tasks.registry import Task

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

log = logging.getLogger(__name__)


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """The model in eval mode inside, its previous mode restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def eval_generator(seed: int, name: str) -> torch.Generator:
    """A CPU generator for one evaluation's random starts, fixed by the seed and the name."""
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))


def attacked_tasks(spec: EvalSpec, attacked: Sequence[Task]) -> Sequence[Task]:
    """The tasks an evaluation attacks: all of ``attacked`` for ``_mt``, else the main one."""
    return attacked if spec.multitask else attacked[:1]


def attack_objective(
    model: torch.nn.Module, spec: EvalSpec, attack: Attack, attacked: Sequence[Task], batch: Batch
) -> LossFn:
    """What ``attack`` maximises for this evaluation on this batch."""
    targets, masks, tasks = batch["targets"], batch["masks"], attacked_tasks(spec, attacked)
    if spec.multitask:
        return joint_objective(
            model, tasks, targets, masks, batch["image"], spec.combiner, spec.aux_weight
        )
    main = tasks[0]
    build = houdini_objective if attack.objective == "houdini" else task_objective
    return build(model, main, targets[main.name], masks.get(main.name))


def _attack_specs(spec: EvalSpec) -> list[EvalSpec]:
    """The evaluations that run for ``spec``: its members for a worst case, else itself."""
    return [parse_eval(m) for m in spec.members] if spec.is_worst else [spec]


def _check(
    specs: Sequence[EvalSpec],
    tasks: Sequence[Task],
    attacked: Sequence[Task],
    report: Sequence[Task],
) -> None:
    names = {t.name for t in tasks}
    for role, group in (("attacked", attacked), ("reported", report)):
        unknown = [t.name for t in group if t.name not in names]
        if unknown:
            raise MtsweepError(
                f"{role} task(s) {', '.join(unknown)} are not among the model's "
                f"tasks ({', '.join(sorted(names))})"
            )
    for parent in specs:
        for spec in _attack_specs(parent):
            named = repr(spec.name) + (f" (in {parent.name!r})" if parent.is_worst else "")
            if not spec.is_clean and not attacked:
                raise MtsweepError(
                    f"evaluation {named} attacks a task, but no attacked task was given"
                )
            targets = attacked_tasks(spec, attacked)
            if not applies_to(spec.name, targets):
                raise MtsweepError(
                    f"evaluation {named} does not apply to the attacked task(s) "
                    f"{', '.join(f'{t.name} ({t.kind})' for t in targets)}"
                )


@dataclass(frozen=True)
class Evaluation:
    """What ``evaluate`` gives back.

    ``metrics`` is ``{eval: {task: {metric: value}}}`` over all batches; ``first_images``
    holds, per evaluation, the first input image as it saw it (attacked or clean, shape
    ``1×C×H×W``), so a picture of the attack needs no second attack.
    """

    metrics: dict[str, dict[str, dict[str, float]]]
    first_images: dict[str, torch.Tensor]


def evaluate(
    model: torch.nn.Module,
    batches: Iterable[Batch],
    *,
    tasks: Sequence[Task],
    evals: Sequence[str],
    attacked: Sequence[Task],
    report: Sequence[Task],
    device: torch.device | str,
    seed: int,
    replay: str | None = None,
) -> Evaluation:
    """Each reported task's metrics under each evaluation, over all batches.

    Single-task evaluations attack ``attacked[0]`` (the main task); ``_mt`` ones attack all
    of ``attacked``, combined as their name says (equal weights by default). A worst case
    keeps, per image, the member that leaves ``attacked[0]``'s primary metric worst.
    ``replay`` (a dataset name) runs the attacks as the authors ran them on that dataset,
    bugs included (``attacks.replay``, ``fidelity: authors``).
    """
    specs = [parse_eval(name) for name in evals]
    _check(specs, tasks, attacked, report)
    runs = {r.name: r for s in specs for r in _attack_specs(s)}  # each attack once
    attacks = {name: build_attack(r) for name, r in runs.items()}
    if replay is not None:
        attacks = {n: a and authors_attack(a, replay) for n, a in attacks.items()}
    generators = {name: eval_generator(seed, name) for name in runs}
    meters: dict[str, dict[str, Meter]] = {
        s.name: {t.name: t.make_meter() for t in report} for s in specs
    }
    first_images: dict[str, torch.Tensor] = {}
    with eval_mode(model):
        for raw in batches:
            batch = to_device(raw, device)
            seen: dict[str, tuple[torch.Tensor, dict[str, torch.Tensor]]] = {}
            for name, run in runs.items():
                x, attack = batch["image"], attacks[name]
                if attack is not None:
                    loss_fn = attack_objective(model, run, attack, attacked, batch)
                    x = attack(x, loss_fn, generators[name])
                with torch.no_grad():
                    seen[name] = (x, model(x))
            for spec in specs:
                if spec.is_worst:
                    main = attacked[0]
                    x, outputs = worst_of(
                        [seen[m] for m in spec.members],
                        main,
                        batch["targets"][main.name],
                        batch["masks"].get(main.name),
                    )
                else:
                    x, outputs = seen[spec.name]
                if spec.name not in first_images:  # a copy: the batch need not stay alive
                    first_images[spec.name] = x[:1].detach().clone()
                for t in report:
                    meters[spec.name][t.name].update(
                        outputs[t.name], batch["targets"][t.name], batch["masks"].get(t.name)
                    )
    metrics = {e: {t: m.compute() for t, m in per.items()} for e, per in meters.items()}
    log.info("evaluated %s on %s", ", ".join(evals), ", ".join(t.name for t in report))
    return Evaluation(metrics, first_images)
