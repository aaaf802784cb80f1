"""The fast gradient sign method (Goodfellow et al. 2015): one step of size eps."""

from __future__ import annotations

from attacks.base import Attack


class FGSM(Attack):
    """x + eps·sign(∇), clamped to [0, 1]; no random start (that would be R+FGSM).

    >>> from attacks import FGSM
    >>> fgsm = FGSM(eps=4 / 255)  # the paper's fgsm_eps4
    >>> x_adv = fgsm(images, loss_fn)  # doctest: +SKIP
    """

    name = "fgsm"
    order = 1
    iterative = False

    def __init__(self, eps: float) -> None:
        super().__init__(eps, step_size=eps, steps=1, random_start=False)
