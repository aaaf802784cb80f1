"""Evaluation names (DESIGN.md): ``clean`` and ``<attack><steps>_eps<ε>[_mt]``.

ε is in 0–255 pixel levels; iterative attacks step 1/255 (the paper's step 1) and FGSM
steps ε. ``fgsm`` takes no step count; every other attack needs one. ``_mt`` attacks all of
the model's attacked tasks jointly; Houdini attacks one segmentation metric, so it has none.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from attacks.base import Attack
from attacks.fgsm import FGSM
from attacks.houdini import Houdini
from attacks.mim import MIM
from attacks.pgd import PGD

CLEAN = "clean"
ITERATIVE = {"pgd": PGD, "mim": MIM, "houdini": Houdini}
ATTACK_NAMES = ("fgsm", *ITERATIVE)
PIXEL_LEVELS = 255.0

# ε is written canonically (no leading zeros, no trailing fractional zeros) so that
# parse_eval and eval_name are exact inverses.
_NAME = re.compile(
    r"^(?P<attack>[a-z]+?)(?P<steps>\d*)_eps(?P<eps>(?:0|[1-9]\d*)(?:\.\d*[1-9])?)(?P<mt>_mt)?$"
)
_FORMAT = "clean, fgsm_eps<ε>, or <attack><steps>_eps<ε>[_mt] (e.g. pgd50_eps4, pgd10_eps4_mt)"


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
    count = "" if attack == "fgsm" else str(steps)
    return f"{attack}{count}_eps{_format_eps(eps)}" + ("_mt" if multitask else "")


def parse_eval(name: str) -> EvalSpec:
    """``pgd50_eps4`` → EvalSpec("pgd", 50, 4.0, False); ValueError on a malformed name."""
    if name == CLEAN:
        return EvalSpec(CLEAN)
    m = _NAME.match(name)
    if m is None:
        raise ValueError(f"malformed evaluation name {name!r}; expected {_FORMAT}")
    attack, steps, eps = m["attack"], m["steps"], float(m["eps"])
    if attack not in ATTACK_NAMES:
        raise ValueError(
            f"unknown attack {attack!r} in evaluation {name!r}; "
            f"known attacks: {', '.join(ATTACK_NAMES)}"
        )
    if attack == "fgsm" and steps:
        raise ValueError(f"evaluation {name!r}: fgsm is a single step; write fgsm_eps{m['eps']}")
    if attack != "fgsm" and (not steps or int(steps) < 1 or steps.startswith("0")):
        raise ValueError(
            f"evaluation {name!r}: {attack} needs a step count of at least 1, "
            f"e.g. {attack}50_eps{m['eps']}"
        )
    if not 0 < eps <= PIXEL_LEVELS:
        raise ValueError(f"evaluation {name!r}: eps must be in (0, 255] pixel levels")
    if attack == "houdini" and m["mt"]:
        raise ValueError(
            f"evaluation {name!r}: houdini attacks one segmentation task; drop the _mt suffix"
        )
    return EvalSpec(attack, int(steps) if steps else 1, eps, bool(m["mt"]))


def build_attack(spec: EvalSpec) -> Attack | None:
    """The attack an evaluation runs (None for clean), in [0, 1] pixel units."""
    if spec.is_clean:
        return None
    eps = spec.eps / PIXEL_LEVELS
    if spec.attack == "fgsm":
        return FGSM(eps)
    return ITERATIVE[spec.attack](eps=eps, step_size=1.0 / PIXEL_LEVELS, steps=spec.steps)


def pgd_steps_for(eps: float) -> int:
    """The paper's PGD iteration count for ε pixel levels: min(ε + 4, ⌈1.25·ε⌉)."""
    return int(min(eps + 4, math.ceil(1.25 * eps)))
