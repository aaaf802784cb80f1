"""What every L∞ attack shares: the input gradient, the eps-ball projection, the step loop.

An attack only sees ``loss_fn(x) -> scalar`` (the objective to maximise, summed over the
batch), so it knows nothing of tasks or models; objectives live in ``attacks.objectives``.
Each step costs exactly one forward and one backward pass of ``loss_fn``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar

import lazy_loader

from mtsweep.errors import MtsweepError
from mtsweep.registry import Registry

if TYPE_CHECKING:
    from attacks.replay import AuthorsBox

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

LossFn = Callable[["torch.Tensor"], "torch.Tensor"]

# A family name is the letters before the step count in an evaluation name (``pgd50_eps4``).
_FAMILY = re.compile(r"[a-z]+")


def input_gradient(loss_fn: LossFn, x: torch.Tensor) -> torch.Tensor:
    """∂loss_fn/∂x only: gradients never reach (or accumulate in) the model's parameters."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss_fn(x), x)
    return grad


def project(x_adv: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Closest point of the L∞ eps-ball around x that is also a valid image in [0, 1]."""
    return torch.minimum(torch.maximum(x_adv, x - eps), x + eps).clamp_(0.0, 1.0)


def uniform_start(x: torch.Tensor, eps: float, generator: torch.Generator | None) -> torch.Tensor:
    """A uniform point of the eps-ball around x, clamped to [0, 1] (Madry et al.'s start).

    The noise is drawn on the generator's device and then moved, so a seeded CPU generator
    gives the same start on every device.
    """
    device = generator.device if generator is not None else x.device
    noise = torch.rand(x.shape, generator=generator, device=device, dtype=x.dtype)
    return (x + (2.0 * noise.to(x.device) - 1.0) * eps).clamp_(0.0, 1.0)


class Attack:
    """An iterative signed-gradient L∞ attack; subclasses choose the step direction.

    Each subclass describes itself to the evaluation-name grammar (``attacks.eval_names``):

    - ``name``: its family in evaluation names (``pgd`` in ``pgd50_eps4``);
    - ``iterative``: whether a name gives a step count (FGSM's does not);
    - ``task_kinds``: the task kinds it can attack (None: any), read by ``applies_to``;
    - ``joint``: whether it can attack several tasks at once (an ``_mt`` evaluation);
    - ``objective``: the loss an evaluation hands it, ``"task"`` (the task's own training
      loss), ``"pixels"`` (the same, which it reweighs pixel by pixel through
      ``objective.pixels(x)``) or ``"houdini"`` (the Houdini surrogate of a metric);
    - ``step_free``: whether it sets its own step size (APGD), so a name gives none;
    - ``order``: its place among the families, the row order of the paper's tables
      (ties, and families the paper lacks, sort by name after the paper's four).

    A subclass that sets ``name`` registers itself on definition (``attack_classes``);
    ``attacks/__init__.py`` imports each attack module by name, so a new module is its file
    and one import line there.
    """

    name: ClassVar[str]
    order: ClassVar[int] = 100
    iterative: ClassVar[bool] = True
    task_kinds: ClassVar[frozenset[str] | None] = None
    joint: ClassVar[bool] = True
    objective: ClassVar[str] = "task"
    step_free: ClassVar[bool] = False
    # Bounds, start and step scale other than the eps-ball's (attacks.replay: the authors'
    # geometry, replayed on purpose); None: Madry et al.'s.
    box: AuthorsBox | None = None

    def __init__(self, eps: float, step_size: float, steps: int, random_start: bool) -> None:
        if not eps >= 0:
            raise MtsweepError(f"eps must be >= 0 (in [0, 1] pixel units), got {eps}")
        if not step_size > 0:
            raise MtsweepError(f"step_size must be > 0 (in [0, 1] pixel units), got {step_size}")
        if steps < 1:
            raise MtsweepError(f"steps must be at least 1, got {steps}")
        self.eps = float(eps)
        self.step_size = float(step_size)
        self.steps = int(steps)
        self.random_start = random_start

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            _register(cls)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(eps={self.eps:.6g}, step_size={self.step_size:.6g}, "
            f"steps={self.steps}, random_start={self.random_start})"
        )

    def step_rule(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """A fresh gradient → ascent-direction map for one call (stateful rules keep momentum)."""
        return torch.sign

    def step_objective(self, loss_fn: LossFn, t: int) -> LossFn:
        """What step t (1 … steps) climbs: ``loss_fn`` itself unless a family reweighs it."""
        return loss_fn

    def __call__(
        self, x: torch.Tensor, loss_fn: LossFn, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The adversarial version of x (detached), maximising ``loss_fn`` in the eps-ball."""
        x = x.detach()
        box = self.box
        if box is not None:
            x_adv = box.start(x, self.eps) if self.random_start else x.clone()
        else:
            x_adv = uniform_start(x, self.eps, generator) if self.random_start else x.clone()
        rule = self.step_rule()
        for t in range(1, self.steps + 1):
            step = rule(input_gradient(self.step_objective(loss_fn, t), x_adv))
            if box is None:
                x_adv = project(x_adv + self.step_size * step, x, self.eps)
            else:
                x_adv = box.project(box.advance(x_adv, step, self.step_size), x, self.eps)
        return x_adv.detach()


def _origin(cls: type[Attack]) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# The attack families, in the paper's table order (``order``, then name).
ATTACK_FAMILIES: Registry[type[Attack]] = Registry(
    "attack", MtsweepError, origin=_origin, sort_key=lambda a: (a.order, a.name)
)


def _register(cls: type[Attack]) -> None:
    name = cls.__dict__["name"]
    if not isinstance(name, str) or not _FAMILY.fullmatch(name):
        raise MtsweepError(
            f"attack {cls.__qualname__}: name {name!r} must be lowercase letters only "
            "(evaluation names read the digits after it as the step count)"
        )
    if name in ("clean", "worst"):
        raise MtsweepError(
            f"attack {cls.__qualname__}: {name!r} is an evaluation name (unattacked, or the "
            "worst case over attacks), not a family"
        )
    ATTACK_FAMILIES.register(name, cls)


def attack_classes() -> tuple[type[Attack], ...]:
    """Every registered attack family, in the paper's table order (``order``, then name)."""
    return ATTACK_FAMILIES.entries()


def attack_names() -> tuple[str, ...]:
    """The names of ``attack_classes()``, in the same order."""
    return ATTACK_FAMILIES.names()
