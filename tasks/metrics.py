"""Meters: a task's metrics accumulated over batches, so that a dataset's value is exact
(a confusion matrix and sums over pixels), not a mean of per-batch means."""

from __future__ import annotations

import lazy_loader

torch = lazy_loader.load("torch")  # on first use (docs/architecture.md, "Who may import whom")


class Meter:
    """Accumulates a task's metrics over batches; ``compute`` gives the dataset value."""

    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        raise NotImplementedError


class SegmentationMeter(Meter):
    """Confusion matrix over labelled pixels; mIoU and pixel accuracy in percent.

    mIoU averages over the classes that occur in the labels or the predictions, the
    usual convention when a split does not contain every class.
    """

    def __init__(self, num_classes: int, ignore_index: int):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.hist = torch.zeros(num_classes, num_classes, dtype=torch.float64)

    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> None:
        labels = target.long().squeeze(1)
        guess = pred.argmax(1)
        valid = labels != self.ignore_index
        if mask is not None:
            valid &= mask.squeeze(1)
        idx = labels[valid] * self.num_classes + guess[valid]
        counts = torch.bincount(idx.cpu(), minlength=self.num_classes**2)
        self.hist += counts.reshape(self.num_classes, self.num_classes).double()

    def compute(self) -> dict[str, float]:
        hist = self.hist
        tp = hist.diag()
        union = hist.sum(0) + hist.sum(1) - tp
        present = union > 0
        if self.ignore_index < self.num_classes:
            present[self.ignore_index] = False
        miou = (tp[present] / union[present]).mean().item() * 100 if present.any() else float("nan")
        total = hist.sum().item()
        acc = tp.sum().item() / total * 100 if total else float("nan")
        return {"miou": miou, "pixel_acc": acc}


class RegressionMeter(Meter):
    """Mean absolute error, RMSE and (optionally) mean relative error over valid pixels.

    Values are in the units of the task's decoded target (``Task.units``).
    """

    def __init__(self, names: dict[str, str]):
        self.names = names  # our statistic ("abs", "rmse", "rel") -> reported metric name
        self.abs = 0.0
        self.sq = 0.0
        self.rel = 0.0
        self.count = 0.0

    def update(self, pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None) -> None:
        diff = (pred.float() - target.float()).detach()
        m = (
            torch.ones_like(diff, dtype=torch.bool) if mask is None else mask.expand_as(diff)
        ).detach()
        d = diff[m]
        self.abs += d.abs().sum().item()
        self.sq += d.pow(2).sum().item()
        if "rel" in self.names:
            t = target.float().expand_as(diff)[m]
            self.rel += (d.abs() / t.abs().clamp_min(1e-6)).sum().item()
        self.count += float(d.numel())

    def compute(self) -> dict[str, float]:
        n = max(self.count, 1.0)
        stats = {"abs": self.abs / n, "rmse": (self.sq / n) ** 0.5, "rel": self.rel / n}
        if self.count == 0:
            stats = {k: float("nan") for k in stats}
        return {name: stats[stat] for stat, name in self.names.items()}
