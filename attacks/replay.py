"""The authors' attacks replayed on purpose (``fidelity: authors``), bugs included, where
they changed the published numbers (docs/fidelity.md, "Faithful replay"):

- the "random start" of PGD, MIM and Houdini is the fixed corner min(valid max, x + ε): the
  authors' ``clamp_tensor`` takes (upper, lower) and was called with (lower, upper);
- Cityscapes attacks ran on mean/std-normalised inputs as if they were in [−1, 1]: ε and
  the step are 2·ε/255 there (so 2·ε·std per channel in pixels), and each step is clamped
  to [−1, 1] normalised (pixels [mean − std, mean + std]) with the upper bound applied
  first, so a pixel outside that band is moved to its edge whatever ε is;
- MIM's momentum is g ← 0.5·g + ∇, without Dong et al.'s L1 normalisation.

Everything stays in [0, 1] pixel space (the model normalises its own input); an
``AuthorsBox`` says per channel where the authors' bounds and step sizes fall there.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import lazy_loader

from attacks.base import Attack
from attacks.mim import MIM

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

# The mean/std the authors' Cityscapes loader normalised with (MTRobust SegDepthList.INFO).
AUTHORS_CITYSCAPES_MEAN = (0.2901, 0.3281, 0.2870)
AUTHORS_CITYSCAPES_STD = (0.1830, 0.1866, 0.1845)
AUTHORS_MIM_DECAY = 0.5


@dataclass(frozen=True)
class AuthorsBox:
    """Per channel, in [0, 1] pixels: the authors' valid range and how many pixel units one
    unit of their ε and step was."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    scale: tuple[float, ...]

    def _view(self, values: tuple[float, ...], x: torch.Tensor) -> torch.Tensor:
        return torch.tensor(values, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)

    def bounds(self, x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(lower, upper): max(low, x − ε·scale), min(high, x + ε·scale)."""
        reach = eps * self._view(self.scale, x)
        lower = torch.maximum(x - reach, self._view(self.low, x))
        upper = torch.minimum(x + reach, self._view(self.high, x))
        return lower, upper

    def start(self, x: torch.Tensor, eps: float) -> torch.Tensor:
        """Where the authors' "random start" lands: the upper bound, always."""
        return self.bounds(x, eps)[1]

    def advance(self, x_adv: torch.Tensor, direction: torch.Tensor, step: float) -> torch.Tensor:
        return x_adv + step * self._view(self.scale, x_adv) * direction

    def project(self, x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
        """``clamp_tensor``: the upper bound first, then the lower one (which wins)."""
        lower, upper = self.bounds(x, eps)
        return torch.maximum(torch.minimum(x_adv, upper), lower)


# Taskonomy: inputs in [−1, 1] = 2x − 1 and ε·2/255 there, so exactly ε in pixels.
TASKONOMY_BOX = AuthorsBox(low=(0.0,) * 3, high=(1.0,) * 3, scale=(1.0,) * 3)
CITYSCAPES_BOX = AuthorsBox(
    low=tuple(m - s for m, s in zip(AUTHORS_CITYSCAPES_MEAN, AUTHORS_CITYSCAPES_STD, strict=True)),
    high=tuple(m + s for m, s in zip(AUTHORS_CITYSCAPES_MEAN, AUTHORS_CITYSCAPES_STD, strict=True)),
    scale=tuple(2.0 * s for s in AUTHORS_CITYSCAPES_STD),
)
BOXES = {"taskonomy": TASKONOMY_BOX, "cityscapes": CITYSCAPES_BOX}


class _AuthorsMIM(MIM):
    """MIM as the authors' ``PGD_attack_ensemble_mtask(momentum=True)``: raw gradients."""

    def step_rule(self) -> Callable[[torch.Tensor], torch.Tensor]:
        momentum: torch.Tensor | None = None

        def rule(grad: torch.Tensor) -> torch.Tensor:
            nonlocal momentum
            momentum = grad if momentum is None else self.decay * momentum + grad
            return momentum.sign()

        return rule


def authors_attack(attack: Attack, dataset: str) -> Attack:
    """A copy of ``attack`` as the authors ran it on ``dataset``: their box and corner start
    for every iterative attack (FGSM starts at x, as theirs), their MIM momentum."""
    replay = copy.copy(attack)
    if isinstance(attack, MIM):
        replay.__class__ = _AuthorsMIM
        replay.decay = AUTHORS_MIM_DECAY
    replay.box = BOXES[dataset]
    replay.random_start = attack.iterative
    return replay
