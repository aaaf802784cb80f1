"""The momentum iterative method (Dong et al. 2018).

Unlike the paper's code (decay 0.5, raw gradients), the gradient is L1-normalised per
sample before it enters the momentum, as Dong et al. define it: otherwise samples or steps
with large gradients dominate the accumulated direction.
"""

from __future__ import annotations

from collections.abc import Callable

import lazy_loader

from attacks.base import Attack

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

# Guards the normalisation of an all-zero gradient (sign(0) = 0 then leaves x in place).
_TINY = 1e-12


class MIM(Attack):
    """g ← decay·g + ∇/mean|∇| (per sample), step along sign(g); projected like PGD.

    >>> from attacks import MIM
    >>> mim = MIM(eps=4 / 255, step_size=1 / 255, steps=100)  # the paper's mim100_eps4
    >>> x_adv = mim(images, loss_fn)  # doctest: +SKIP
    >>> mim_as_the_authors = MIM(4 / 255, 1 / 255, 100, decay=0.5)  # their code's decay
    """

    name = "mim"
    order = 3

    def __init__(
        self,
        eps: float,
        step_size: float,
        steps: int,
        decay: float = 1.0,
        random_start: bool = False,
    ) -> None:
        super().__init__(eps, step_size, steps, random_start)
        self.decay = float(decay)

    def step_rule(self) -> Callable[[torch.Tensor], torch.Tensor]:
        momentum: torch.Tensor | None = None

        def rule(grad: torch.Tensor) -> torch.Tensor:
            nonlocal momentum
            scale = grad.abs().flatten(1).mean(1).clamp_min(_TINY)
            normed = grad / scale.view(-1, *([1] * (grad.dim() - 1)))
            momentum = normed if momentum is None else self.decay * momentum + normed
            return momentum.sign()

        return rule
