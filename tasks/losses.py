"""Task losses. Each returns one value per sample, shape (B,): training averages over the
batch, attacks sum over it, so neither has to undo a reduction the loss already made.

A sample's value is the mean over its valid pixels (masked pixels are left out of the
denominator, unlike Standley's and MTRobust's ``(loss * mask).mean()``, which counts them):
an image that is half sky then weighs as much as one that is all road. Training can count
them as the authors do (``valid_fraction``, a preset's ``train.loss_denominator: all``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lazy_loader

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")

Loss = Callable[["torch.Tensor", "torch.Tensor", "torch.Tensor | None"], "torch.Tensor"]


def masked_mean(per_pixel: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean of a (B,C,H,W) map over valid pixels and channels, per sample."""
    if mask is None:
        return per_pixel.flatten(1).mean(1)
    m = mask.to(per_pixel.dtype).expand_as(per_pixel)
    return (per_pixel * m).flatten(1).sum(1) / m.flatten(1).sum(1).clamp_min(1.0)


def valid_fraction(
    target: torch.Tensor, mask: torch.Tensor | None, ignore_index: int | None = None
) -> torch.Tensor:
    """Per sample, the share of pixels a loss averages over (not masked, not ignored).

    A per-sample loss times this is the loss over *all* pixels, masked ones counted in the
    denominator: MTRobust's ``(loss * mask).mean()`` (a train.loss_denominator of 'all').
    """
    first = (target if target.dim() == 4 else target.unsqueeze(1))[:, :1]  # class maps: (B,H,W)
    valid = torch.ones_like(first, dtype=torch.bool)
    if ignore_index is not None:
        valid = first.long() != ignore_index
    if mask is not None:
        valid = valid & mask.bool()
    return valid.float().flatten(1).mean(1)


@dataclass(frozen=True)
class PixelLoss:
    """A loss that is, per sample, the mean of a per-pixel map over the pixels that count.

    ``pixels(pred, target)`` is the (B,C,H,W) map and ``valid(target, mask)`` the pixels it is
    averaged over (None: all). Calling it gives the per-sample loss; attacks that weigh
    pixels one by one (SegPGD, CosPGD) read the map itself, so both stay one definition.
    """

    pixels: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    valid: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor | None]

    def __call__(
        self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        return masked_mean(self.pixels(pred, target), self.valid(target, mask))


def _abs_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (pred - target).abs()


def _mask_only(target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
    return mask


# Mean absolute error over valid pixels (and channels), per sample.
l1_loss = PixelLoss(_abs_error, _mask_only)


def normalised_mse(std: Sequence[float]) -> PixelLoss:
    """Squared error of images standardised per channel by ``std``: MTRobust's Cityscapes
    autoencoder loss, an MSE between mean/std-normalised RGB images (the means cancel), so
    an error of e in [0, 1] RGB counts (e/σ_c)² instead of |e| (docs/fidelity.md)."""
    inv = torch.tensor([1.0 / s for s in std])

    def pixels(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        scale = inv.to(pred.device, pred.dtype).view(1, -1, 1, 1)
        return ((pred - target) * scale).square()

    return PixelLoss(pixels, _mask_only)


def make_ce_loss(ignore_index: int, class_weights: Sequence[float] | None = None) -> PixelLoss:
    """Per-pixel cross-entropy over pixels whose label is not ``ignore_index``.

    ``class_weights`` (one per output channel) scale each pixel's term by its true class,
    as the original Taskonomy loader's ``semseg_prior_factor`` does; the sum is still
    divided by the number of labelled pixels, so the weights change the loss's magnitude.
    """
    weights = None if class_weights is None else tuple(map(float, class_weights))

    def ce_pixels(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        labels = target.long().squeeze(1)
        per_pixel = torch.nn.functional.cross_entropy(
            pred.float(), labels, ignore_index=ignore_index, reduction="none"
        )
        if weights is not None:
            safe = labels.clamp(0, len(weights) - 1)
            per_pixel = per_pixel * per_pixel.new_tensor(weights)[safe]
        return per_pixel.unsqueeze(1)

    def labelled(target: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        valid = (target.long().squeeze(1) != ignore_index).unsqueeze(1)
        return valid & mask if mask is not None else valid

    return PixelLoss(ce_pixels, labelled)
