"""L∞ attacks on dense-prediction models: FGSM, PGD, MIM, Houdini, SegPGD, CosPGD and APGD.

The attack API (docs/formats.md §2). Images are float tensors in [0, 1]; the model normalises its
input itself, so ``eps`` and ``step_size`` are measured in the same [0, 1] pixel units
(4/255 is the paper's ε = 4). An attack is a callable ``attack(x, loss_fn) -> x_adv``:
``loss_fn(x_adv)`` returns the scalar to *maximise*, summed over the batch, and the attack
knows nothing else about the model or its tasks. The losses come from
``attacks.objectives`` (one task, several tasks weighted, or Houdini's surrogate).

- ``PGD`` (Madry et al.): a uniform random start in the eps-ball, then signed-gradient
  steps, each projected back onto the ball and clamped to [0, 1].
- ``MIM`` (Dong et al.): the same loop stepping along the sign of a momentum
  ``g = decay·g + ∇/mean|∇|`` kept per sample.
- ``FGSM``: one signed step of size eps. ``Houdini``: PGD's loop without the random
  start, handed the Houdini surrogate of a segmentation metric.
- ``SegPGD`` (Gu et al.) and ``CosPGD`` (Agnihotri et al.): PGD's loop on a per-pixel
  reweighing of the task's loss, read through the objective's ``pixels(x)``.
- ``APGD`` (Croce & Hein): momentum and a self-tuned step size, best iterate per sample.

>>> from attacks import PGD
>>> from attacks.objectives import task_objective
>>> pgd = PGD(eps=4 / 255, step_size=1 / 255, steps=50, random_start=True)
>>> x_adv = pgd(images, task_objective(model, task, target, mask))  # doctest: +SKIP

Evaluation names such as ``pgd50_eps4`` map to attacks in ``attacks.eval_names``;
``ATTACKS`` lists the families in the paper's table order. An ``Attack`` subclass that sets
``name`` registers itself, and every module of this package is imported here, so adding an
attack is adding its module.
"""

import importlib
import pkgutil
from typing import TYPE_CHECKING

from attacks import eval_names
from attacks.apgd import APGD
from attacks.base import Attack
from attacks.cospgd import CosPGD
from attacks.fgsm import FGSM
from attacks.houdini import Houdini
from attacks.mim import MIM
from attacks.pgd import PGD
from attacks.segpgd import SegPGD

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

if TYPE_CHECKING:
    from attacks.eval_names import ATTACK_NAMES, ATTACKS


def __getattr__(name: str):
    """``ATTACKS`` and ``ATTACK_NAMES`` as ``attacks.eval_names`` gives them (read live)."""
    if name in ("ATTACKS", "ATTACK_NAMES"):
        return getattr(eval_names, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "APGD",
    "ATTACKS",
    "ATTACK_NAMES",
    "FGSM",
    "MIM",
    "PGD",
    "Attack",
    "CosPGD",
    "Houdini",
    "SegPGD",
]
