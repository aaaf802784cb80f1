"""Evaluation names (docs/formats.md §1): ``clean``,
``<attack><steps>_eps<ε>[_mt[_<combiner>]]`` and ``worst_<member>-<member>[-…]``.

ε is in 0–255 pixel levels; iterative attacks step 1/255 (the paper's step 1), FGSM steps
ε and APGD sets its own step (2ε at first). ``_mt`` attacks all of the model's attacked
tasks jointly, combining their losses by the paper's equal sum, or by the combiner after
it: ``_mt_w<a>`` (the main task weighs 1, every other attacked task a), ``_mt_rel``
(Σ_t L_t(x′)/L_t(x)) or ``_mt_dgba`` (DGBA's Σ_t ∇ₓL_t/L_t); see
``attacks.objectives.joint_objective``. ``worst_…`` runs each member evaluation and keeps,
per image, the one that leaves the main task's primary metric worst (``attacks.worst``);
its members are joined by ``-`` because MLflow metric names allow no ``+``.

What each attack family allows (a step count, ``_mt``, which task kinds) is declared on
its class, which registers itself (:func:`attacks.base.attack_classes`). ``ATTACKS`` is
that registry, in the paper's table-row order, and everything here reads it; it is looked
up on each use, so a family defined after this module was imported is known too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attacks.base import Attack, attack_classes
from attacks.pgd import madry_step_size
from tasks.errors import MtsweepError
from tasks.registry import Task

CLEAN = "clean"
WORST = "worst"
PIXEL_LEVELS = 255.0
SUM, WEIGHTED, RELATIVE, DGBA = "sum", "weighted", "rel", "dgba"
COMBINERS = (SUM, WEIGHTED, RELATIVE, DGBA)

if TYPE_CHECKING:  # provided by __getattr__ below
    ATTACKS: tuple[type[Attack], ...]
    ATTACK_NAMES: tuple[str, ...]


def _by_name() -> dict[str, type[Attack]]:
    return {a.name: a for a in attack_classes()}


def _names() -> tuple[str, ...]:
    return tuple(a.name for a in attack_classes())


def __getattr__(name: str):
    """``ATTACKS`` (the families, rows of Tables 1-3 first) and ``ATTACK_NAMES``, read live."""
    if name == "ATTACKS":
        return attack_classes()
    if name == "ATTACK_NAMES":
        return _names()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ε and a combiner's weight are written canonically (no leading zeros, no trailing
# fractional zeros) so that parse_eval and eval_name are exact inverses.
_NUMBER = r"(?:0|[1-9]\d*)(?:\.\d*[1-9])?"
_NAME = re.compile(
    rf"^(?P<attack>[a-z]+?)(?P<steps>\d*)_eps(?P<eps>{_NUMBER})"
    rf"(?P<mt>_mt(?:_(?:(?P<comb>{RELATIVE}|{DGBA})|w(?P<w>{_NUMBER})))?)?$"
)
_WORST_PREFIX = f"{WORST}_"
_MEMBER_SEP = "-"
_FORMAT = (
    "clean, fgsm_eps<ε>, <attack><steps>_eps<ε>[_mt[_rel|_dgba|_w<a>]] or "
    "worst_<eval>-<eval>[-…] (e.g. pgd50_eps4, pgd10_eps4_mt_dgba, worst_pgd50_eps4-segpgd50_eps4)"
)


class EvalNameError(MtsweepError):
    """An evaluation name outside the grammar, or an attack it does not know."""


@dataclass(frozen=True)
class EvalSpec:
    """One evaluation: ``attack`` is "clean", "worst" or an attack name; ``eps`` in pixel
    levels. A joint (``multitask``) attack combines its tasks' losses by ``combiner`` (one of
    ``COMBINERS``; ``aux_weight`` for ``weighted``). A worst case lists its ``members``
    (evaluation names); its ``steps`` are theirs summed, its ``eps`` their largest."""

    attack: str
    steps: int = 0
    eps: float = 0.0
    multitask: bool = False
    combiner: str = SUM
    aux_weight: float | None = None
    members: tuple[str, ...] = ()

    @property
    def is_clean(self) -> bool:
        return self.attack == CLEAN

    @property
    def is_worst(self) -> bool:
        return self.attack == WORST

    @property
    def name(self) -> str:
        if self.is_worst:
            return worst_name(self.members)
        return eval_name(
            self.attack, self.steps, self.eps, self.multitask, self.combiner, self.aux_weight
        )


def _format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def eval_name(
    attack: str,
    steps: int = 0,
    eps: float = 0.0,
    multitask: bool = False,
    combiner: str = SUM,
    aux_weight: float | None = None,
) -> str:
    """The evaluation's name; ``parse_eval(eval_name(...))`` gives the same spec back."""
    if attack == CLEAN:
        return CLEAN
    count = str(steps) if _by_name()[attack].iterative else ""
    suffix = ""
    if multitask:
        suffix = "_mt"
        if combiner == WEIGHTED:
            suffix += f"_w{_format_number(aux_weight if aux_weight is not None else 1.0)}"
        elif combiner != SUM:
            suffix += f"_{combiner}"
    return f"{attack}{count}_eps{_format_number(eps)}{suffix}"


def worst_name(members: Sequence[str]) -> str:
    """``worst_<m1>-<m2>…``: the worst case, per image, over the member evaluations."""
    return _WORST_PREFIX + _MEMBER_SEP.join(members)


def _parse_worst(name: str) -> EvalSpec:
    members = tuple(name.removeprefix(_WORST_PREFIX).split(_MEMBER_SEP))
    if len(members) < 2 or len(set(members)) < len(members):
        raise EvalNameError(
            f"evaluation {name!r}: a worst case needs at least two different members, "
            "e.g. worst_pgd50_eps4-segpgd50_eps4"
        )
    specs = []
    for member in members:
        spec = parse_eval(member)
        if spec.is_clean or spec.is_worst:
            raise EvalNameError(
                f"evaluation {name!r}: member {member!r} is not an attack; "
                "a worst case's members are attack evaluations"
            )
        specs.append(spec)
    steps = sum(s.steps for s in specs)
    return EvalSpec(WORST, steps, max(s.eps for s in specs), members=members)


def parse_eval(name: str) -> EvalSpec:
    """``pgd50_eps4`` → EvalSpec("pgd", 50, 4.0, False); EvalNameError on a malformed name."""
    if name == CLEAN:
        return EvalSpec(CLEAN)
    if name.startswith(_WORST_PREFIX):
        return _parse_worst(name)
    m = _NAME.match(name)
    if m is None:
        raise EvalNameError(f"malformed evaluation name {name!r}; expected {_FORMAT}")
    attack, steps, eps = m["attack"], m["steps"], float(m["eps"])
    cls = _by_name().get(attack)
    if cls is None:
        raise EvalNameError(
            f"unknown attack {attack!r} in evaluation {name!r}; "
            f"known attacks: {', '.join(_names())}"
        )
    if not cls.iterative and steps:
        raise EvalNameError(
            f"evaluation {name!r}: {attack} is a single step; write {attack}_eps{m['eps']}"
        )
    if cls.iterative and (not steps or int(steps) < 1 or steps.startswith("0")):
        raise EvalNameError(
            f"evaluation {name!r}: {attack} needs a step count of at least 1, "
            f"e.g. {attack}50_eps{m['eps']}"
        )
    if not 0 < eps <= PIXEL_LEVELS:
        raise EvalNameError(f"evaluation {name!r}: eps must be in (0, 255] pixel levels")
    if m["mt"] and not cls.joint:
        raise EvalNameError(
            f"evaluation {name!r}: {attack} attacks one task at a time; drop the _mt suffix"
        )
    combiner = WEIGHTED if m["w"] is not None else (m["comb"] or SUM)
    aux_weight = float(m["w"]) if m["w"] is not None else None
    return EvalSpec(attack, int(steps) if steps else 1, eps, bool(m["mt"]), combiner, aux_weight)


def attack_order(attack: str) -> int:
    """Sort key of an attack family (or ``clean``) in the paper's tables: clean, then ATTACKS."""
    if attack == CLEAN:
        return 0
    names = _names()
    if attack == WORST:
        return 1 + len(names)
    if attack not in names:
        raise EvalNameError(f"unknown attack {attack!r}; known: {', '.join(names)}")
    return 1 + names.index(attack)


def applies_to(eval_name: str, tasks: Sequence[Task]) -> bool:
    """Whether the evaluation can run on a model attacked on ``tasks``.

    The one rule of which attack suits which tasks: clean always does; an attack family
    does when it can attack every one of ``tasks`` (Houdini: segmentation tasks only).
    ``eval_name`` may also be a bare attack family such as ``"houdini"``.
    """
    by_name = _by_name()
    if eval_name in by_name:
        attack = eval_name
    else:
        spec = parse_eval(eval_name)
        if spec.is_worst:
            return all(applies_to(member, tasks) for member in spec.members)
        attack = spec.attack
    if attack == CLEAN:
        return True
    kinds = by_name[attack].task_kinds
    return bool(tasks) and (kinds is None or all(t.kind in kinds for t in tasks))


def _build(spec: EvalSpec, step_size: float) -> Attack:
    cls, eps = _by_name()[spec.attack], spec.eps / PIXEL_LEVELS
    if not cls.iterative:
        return cls(eps)
    if cls.step_free:
        return cls(eps=eps, steps=spec.steps)
    return cls(eps=eps, step_size=step_size, steps=spec.steps)


def build_attack(spec: EvalSpec) -> Attack | None:
    """The attack an evaluation runs (None for clean), in [0, 1] pixel units, step 1/255.

    A worst case is no single attack: ``attacks.evaluation`` runs its members."""
    if spec.is_worst:
        raise EvalNameError(f"{spec.name!r} is a worst case over attacks, not one attack")
    return None if spec.is_clean else _build(spec, 1.0 / PIXEL_LEVELS)


def training_attack(spec: EvalSpec) -> Attack:
    """The attack adversarial training runs for ``spec``: as ``build_attack``, but with the
    Madry-style step 2.5·ε/steps (``attacks.pgd.madry_step_size``), not the evaluation's 1/255.
    """
    if spec.is_clean or spec.is_worst:
        raise EvalNameError(f"adversarial training needs one attack, not {spec.name!r}")
    cls = _by_name()[spec.attack]
    if cls.objective == "pixels" or spec.combiner != SUM:
        raise EvalNameError(
            f"adversarial training attacks the training loss with the model's weights λ; "
            f"{spec.name!r} reweighs pixels or tasks: use pgd, mim, apgd or fgsm, no combiner"
        )
    return _build(spec, madry_step_size(spec.eps / PIXEL_LEVELS, spec.steps))


def pgd_steps_for(eps: float) -> int:
    """The paper's PGD iteration count for ε pixel levels: min(ε + 4, ⌈1.25·ε⌉)."""
    return int(min(eps + 4, math.ceil(1.25 * eps)))
