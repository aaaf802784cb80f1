"""CosPGD (Agnihotri, Jung, Keuper, ICML 2024): PGD on a cosine-weighted per-pixel loss.

Each pixel's loss is weighted by the cosine similarity of softmax(prediction) and the
target's distribution, detached: pixels the model still gets right weigh most, those it
already gets wrong fade. On segmentation the target is the one-hot label. On regression
the authors' helper (``cospgd.functions.cospgd_scale(..., one_hot=False)``) takes the
softmax of the target's channels too, and so does this: on a one-channel head (depth,
edges) both softmaxes are 1, the weight is 1 everywhere and CosPGD *is* PGD; on a
multi-channel head (normals) the weights are the softmaxes' cosine, near 1 for small
channel values, so CosPGD stays close to PGD. The step is PGD's, from a uniform start.
"""

from __future__ import annotations

import lazy_loader

from attacks.base import Attack, LossFn
from attacks.objectives import PixelView, pixels_of

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")


def cosine_weight(view: PixelView) -> torch.Tensor:
    """(B,1,H,W) cos(softmax(prediction), one-hot(label) or softmax(target)) per pixel."""
    probs = view.prediction.detach().float().softmax(1)
    if view.task.kind == "segmentation":  # cos(p, one-hot y) = p_y/‖p‖, without the one-hot
        labels = view.target.long().clamp(0, probs.shape[1] - 1)
        return probs.gather(1, labels) / probs.norm(dim=1, keepdim=True)
    target = view.target.float().softmax(1)
    return torch.nn.functional.cosine_similarity(probs, target, dim=1).unsqueeze(1)


class CosPGD(Attack):
    """Signed steps on mean_pixels(cos_i · L_i), the cosine weight detached.

    >>> from attacks import CosPGD
    >>> cospgd = CosPGD(eps=4 / 255, step_size=1 / 255, steps=50)  # cospgd50_eps4
    >>> x_adv = cospgd(images, task_objective(model, task, target, mask))  # doctest: +SKIP
    """

    name = "cospgd"
    order = 6
    joint = False
    objective = "pixels"

    def __init__(self, eps: float, step_size: float, steps: int, random_start: bool = True) -> None:
        super().__init__(eps, step_size, steps, random_start)

    def step_objective(self, loss_fn: LossFn, t: int) -> LossFn:
        pixels = pixels_of(loss_fn, "CosPGD")

        def weighted(x: torch.Tensor) -> torch.Tensor:
            view = pixels(x)
            return view.per_sample(cosine_weight(view).to(view.loss.dtype)).sum()

        return weighted
