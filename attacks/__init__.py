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
``attack_classes()`` lists the families in the paper's table order. An ``Attack`` subclass
that sets ``name`` registers itself, and each attack module is imported here by name, so
adding an attack is adding its module and its import line (as is a measure registered from
its own module, ``task_gradients``).
"""

from attacks import task_gradients  # noqa: F401  (registers the task_grad_l1 measure)
from attacks.apgd import APGD
from attacks.base import Attack, attack_classes, attack_names
from attacks.cospgd import CosPGD
from attacks.fgsm import FGSM
from attacks.houdini import Houdini
from attacks.mim import MIM
from attacks.pgd import PGD
from attacks.segpgd import SegPGD

__all__ = [
    "APGD",
    "FGSM",
    "MIM",
    "PGD",
    "Attack",
    "CosPGD",
    "Houdini",
    "SegPGD",
    "attack_classes",
    "attack_names",
]
