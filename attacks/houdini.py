"""Houdini (Cisse et al. 2017): attack a segmentation metric through a smooth surrogate.

The attack itself is an iterative signed-gradient L∞ attack like PGD; what makes it
Houdini is the objective it is given, ``attacks.objectives.houdini_objective``, which the
``objective`` marker tells an evaluation to build. It attacks segmentation tasks only, one
at a time (so no ``_mt`` evaluation), as the class attributes declare.
"""

from __future__ import annotations

from attacks.base import Attack


class Houdini(Attack):
    """Signed-gradient ascent on the Houdini surrogate; start at x unless asked otherwise.

    >>> from attacks import Houdini
    >>> from attacks.objectives import houdini_objective
    >>> houdini = Houdini(eps=4 / 255, step_size=1 / 255, steps=100)  # houdini100_eps4
    >>> loss_fn = houdini_objective(model, seg_task, labels, mask)  # doctest: +SKIP
    >>> x_adv = houdini(images, loss_fn)  # doctest: +SKIP
    """

    name = "houdini"
    order = 4
    task_kinds = frozenset({"segmentation"})
    joint = False
    objective = "houdini"

    def __init__(
        self, eps: float, step_size: float, steps: int, random_start: bool = False
    ) -> None:
        super().__init__(eps, step_size, steps, random_start)
