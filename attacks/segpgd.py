"""SegPGD (Gu et al., ECCV 2022): PGD that shifts its weight from correct to wrong pixels.

At step t of T the loss of each image is (1 − λ_t)·Σ_{correct} CE + λ_t·Σ_{wrong} CE over
its labelled pixels (divided by their number, as the task's loss is), λ_t = (t − 1)/(2T),
"correct" judged at the current iterate. Early steps push the pixels still classified
correctly; later ones keep the already-flipped pixels from flipping back. The step is
PGD's: signed gradient, projection onto the ε-ball, clamp to [0, 1], from a uniform start.
The per-pixel CE is the task's own (with its convention's class weights, if any).
"""

from __future__ import annotations

import lazy_loader

from attacks.base import Attack, LossFn
from attacks.objectives import pixels_of
from mtsweep.errors import MtsweepError

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")


def segpgd_lambda(t: int, steps: int) -> float:
    """λ_t = (t − 1)/(2T): 0 at the first step, rising to (T − 1)/(2T) < ½ at the last."""
    return (t - 1) / (2 * steps)


class SegPGD(Attack):
    """Signed steps on the λ_t-weighted split of correct and wrong pixels' cross-entropy.

    >>> from attacks import SegPGD
    >>> from attacks.objectives import task_objective
    >>> segpgd = SegPGD(eps=4 / 255, step_size=1 / 255, steps=50)  # segpgd50_eps4
    >>> x_adv = segpgd(images, task_objective(model, seg_task, labels, mask))  # doctest: +SKIP
    """

    name = "segpgd"
    order = 5
    task_kinds = frozenset({"segmentation"})
    joint = False
    objective = "pixels"

    def __init__(self, eps: float, step_size: float, steps: int, random_start: bool = True) -> None:
        super().__init__(eps, step_size, steps, random_start)

    def step_objective(self, loss_fn: LossFn, t: int) -> LossFn:
        pixels, lam = pixels_of(loss_fn, "SegPGD"), segpgd_lambda(t, self.steps)

        def weighted(x: torch.Tensor) -> torch.Tensor:
            view = pixels(x)
            if view.task.kind != "segmentation":
                raise MtsweepError(
                    f"SegPGD attacks class labels; task {view.task.name!r} is {view.task.kind}: "
                    "use pgd, cospgd or apgd for it"
                )
            with torch.no_grad():
                correct = view.prediction.argmax(1, keepdim=True) == view.target.long()
            weight = torch.where(correct, 1.0 - lam, lam).to(view.loss.dtype)
            return view.per_sample(weight).sum()

        return weighted
