"""Evaluation names (docs/formats.md §1): ``clean`` and ``<attack><steps>_eps<ε>[_mt]``.

ε is in 0–255 pixel levels; iterative attacks step 1/255 (the paper's step 1) and FGSM
steps ε. ``_mt`` attacks all of the model's attacked tasks jointly. What each attack family
allows (a step count, ``_mt``, which task kinds) is declared on its class, which registers
itself (:func:`attacks.base.attack_classes`). ``ATTACKS`` is that registry, in the paper's
table-row order, and everything here reads it; it is looked up on each use, so a family
defined after this module was imported is known too.
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
PIXEL_LEVELS = 255.0

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


# ε is written canonically (no leading zeros, no trailing fractional zeros) so that
# parse_eval and eval_name are exact inverses.
_NAME = re.compile(
    r"^(?P<attack>[a-z]+?)(?P<steps>\d*)_eps(?P<eps>(?:0|[1-9]\d*)(?:\.\d*[1-9])?)(?P<mt>_mt)?$"
)
_FORMAT = "clean, fgsm_eps<ε>, or <attack><steps>_eps<ε>[_mt] (e.g. pgd50_eps4, pgd10_eps4_mt)"


class EvalNameError(MtsweepError):
    """An evaluation name outside the grammar, or an attack it does not know."""


@dataclass(frozen=True)
class EvalSpec:
    """One evaluation: ``attack`` is "clean" or an attack name; ``eps`` in pixel levels."""

    attack: str
    steps: int = 0
    eps: float = 0.0
    multitask: bool = False

    @property
    def is_clean(self) -> bool:
        return self.attack == CLEAN

    @property
    def name(self) -> str:
        return eval_name(self.attack, self.steps, self.eps, self.multitask)


def _format_eps(eps: float) -> str:
    return str(int(eps)) if float(eps).is_integer() else repr(float(eps))


def eval_name(attack: str, steps: int = 0, eps: float = 0.0, multitask: bool = False) -> str:
    """The evaluation's name; ``parse_eval(eval_name(...))`` gives the same spec back."""
    if attack == CLEAN:
        return CLEAN
    count = str(steps) if _by_name()[attack].iterative else ""
    return f"{attack}{count}_eps{_format_eps(eps)}" + ("_mt" if multitask else "")


def parse_eval(name: str) -> EvalSpec:
    """``pgd50_eps4`` → EvalSpec("pgd", 50, 4.0, False); EvalNameError on a malformed name."""
    if name == CLEAN:
        return EvalSpec(CLEAN)
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
    return EvalSpec(attack, int(steps) if steps else 1, eps, bool(m["mt"]))


def attack_order(attack: str) -> int:
    """Sort key of an attack family (or ``clean``) in the paper's tables: clean, then ATTACKS."""
    if attack == CLEAN:
        return 0
    names = _names()
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
    attack = eval_name if eval_name in by_name else parse_eval(eval_name).attack
    if attack == CLEAN:
        return True
    kinds = by_name[attack].task_kinds
    return bool(tasks) and (kinds is None or all(t.kind in kinds for t in tasks))


def _build(spec: EvalSpec, step_size: float) -> Attack:
    cls, eps = _by_name()[spec.attack], spec.eps / PIXEL_LEVELS
    if not cls.iterative:
        return cls(eps)
    return cls(eps=eps, step_size=step_size, steps=spec.steps)


def build_attack(spec: EvalSpec) -> Attack | None:
    """The attack an evaluation runs (None for clean), in [0, 1] pixel units, step 1/255."""
    return None if spec.is_clean else _build(spec, 1.0 / PIXEL_LEVELS)


def training_attack(spec: EvalSpec) -> Attack:
    """The attack adversarial training runs for ``spec``: as ``build_attack``, but with the
    Madry-style step 2.5·ε/steps (``attacks.pgd.madry_step_size``), not the evaluation's 1/255.
    """
    if spec.is_clean:
        raise EvalNameError("adversarial training needs an attack, not 'clean'")
    return _build(spec, madry_step_size(spec.eps / PIXEL_LEVELS, spec.steps))


def pgd_steps_for(eps: float) -> int:
    """The paper's PGD iteration count for ε pixel levels: min(ε + 4, ⌈1.25·ε⌉)."""
    return int(min(eps + 4, math.ceil(1.25 * eps)))
