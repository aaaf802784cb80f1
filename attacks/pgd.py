"""Projected gradient descent (Madry et al. 2018): random start, signed steps, projection."""

from __future__ import annotations

from attacks.base import Attack


class PGD(Attack):
    """L∞ PGD; ``PGD(eps=4/255, step_size=1/255, steps=50)`` is the paper's PGD50 at ε=4."""

    def __init__(self, eps: float, step_size: float, steps: int, random_start: bool = True) -> None:
        super().__init__(eps, step_size, steps, random_start)
