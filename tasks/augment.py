"""Training-time augmentation of reader samples: random crop and horizontal flip.

The paper's Cityscapes models were trained as DRN and MTRobust do, with a random crop and
a random horizontal flip (``data_transforms.py``); Standley et al. flip Taskonomy views
half of the time, negating the normals' x component. Augmentation draws from a
``torch.Generator`` it is given, so a trial that seeds it per (seed, epoch, sample) gets
the same crops and flips wherever it runs, whatever the loader's worker count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from mtsweep.errors import MtsweepError
from tasks.task import Task

Sample = dict[str, Any]


@dataclass(frozen=True)
class Augment:
    """Crop a random ``crop`` window (an int: a square; or (H, W)) and flip half the time.

    Image, every target and every mask get the same window and the same flip;
    ``negate_on_flip`` names, per task, the target channels whose sign a mirror changes.
    Samples are not modified (readers share cached ones): new tensors are returned.
    """

    crop: int | tuple[int, int] | None = None
    flip: bool = False
    negate_on_flip: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @classmethod
    def for_tasks(
        cls, tasks: Sequence[Task], crop: int | tuple[int, int] | None = None, flip: bool = False
    ) -> Augment:
        """The augmentation of samples of ``tasks``, flipping their signs as they require."""
        negate = {t.name: t.mirror_negates for t in tasks if t.mirror_negates}
        return cls(crop=crop, flip=flip, negate_on_flip=negate)

    def _window(self, height: int, width: int, generator: torch.Generator) -> tuple[slice, slice]:
        if self.crop is None:
            return slice(None), slice(None)
        ch, cw = (self.crop, self.crop) if isinstance(self.crop, int) else self.crop
        if ch > height or cw > width:
            raise MtsweepError(
                f"crop {ch}×{cw} is larger than the {height}×{width} samples; "
                "lower the crop or raise the image size"
            )
        top = int(torch.randint(0, height - ch + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - cw + 1, (1,), generator=generator))
        return slice(top, top + ch), slice(left, left + cw)

    def __call__(self, sample: Sample, generator: torch.Generator) -> Sample:
        """The sample cropped and/or flipped, drawing from ``generator``."""
        rows, cols = self._window(*sample["image"].shape[-2:], generator)
        mirror = self.flip and bool(torch.rand(1, generator=generator) < 0.5)

        def apply(t: torch.Tensor | None, negate: tuple[int, ...] = ()) -> torch.Tensor | None:
            if t is None:
                return None
            out = t[..., rows, cols]
            if not mirror:
                return out.clone()
            out = out.flip(-1)
            if negate:
                out[list(negate)] = -out[list(negate)]
            return out

        return {
            **sample,
            "image": apply(sample["image"]),
            "targets": {
                k: apply(v, self.negate_on_flip.get(k, ())) for k, v in sample["targets"].items()
            },
            "masks": {k: apply(v) for k, v in sample["masks"].items()},
        }


def sample_generator(seed: int, epoch: int, index: int) -> torch.Generator:
    """A generator for one sample of one epoch, independent of loading order and workers."""
    state = np.random.SeedSequence([seed, epoch, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class AugmentedDataset(Dataset):
    """A reader whose samples are augmented, seeded per (seed, epoch, index).

    Call :meth:`set_epoch` before each epoch so that epochs see different crops and flips.
    """

    def __init__(self, base: Dataset, augment: Augment, seed: int):
        self.base = base
        self.augment = augment
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Sample:
        return self.augment(self.base[index], sample_generator(self.seed, self.epoch, index))
