"""Houdini (Cisse et al. 2017): attack a segmentation metric through a smooth surrogate.

The attack itself is an iterative signed-gradient L∞ attack like PGD; what makes it
Houdini is the objective it is given, ``attacks.objectives.houdini_objective``, which the
``objective`` marker tells an evaluation to build.
"""

from __future__ import annotations

from attacks.base import Attack


class Houdini(Attack):
    """Signed-gradient ascent on the Houdini surrogate; start at x unless asked otherwise."""

    objective = "houdini"

    def __init__(
        self, eps: float, step_size: float, steps: int, random_start: bool = False
    ) -> None:
        super().__init__(eps, step_size, steps, random_start)
