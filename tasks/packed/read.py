"""Reading a packed dataset (:mod:`tasks.packed`) by memory map, as trials do."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from tasks.batches import Batch
from tasks.packed.manifest import ArrayInfo, PackedError, read_manifest
from tasks.task import Task


def _torch_dtype(name: str) -> torch.dtype:
    return getattr(torch, name)


class PackedSplit(Dataset):
    """One split of a packed dataset, read by memory map.

    ``split[i]`` is a reader sample (float image in [0, 1], the tasks' targets and masks,
    ``id``), like the PNG readers give. For training, :meth:`quantised` gives batches of
    uint8 images without the derived targets, and :meth:`finish` completes a batch once it
    is on the device.
    """

    def __init__(self, path: Path, split: str, tasks: Sequence[Task]):
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if split not in self.manifest["splits"]:
            raise PackedError(
                f"packed dataset {self.path} has no {split} split "
                f"(only {', '.join(self.manifest['splits'])})"
            )
        self.split = split
        self.tasks = list(tasks)
        meta = self.manifest["splits"][split]
        self.count = int(meta["count"])
        self.arrays = {n: ArrayInfo.from_json(a) for n, a in meta["arrays"].items()}
        self._maps: dict[str, np.ndarray] | None = None
        self._ids: list[str] | None = None

    def __getstate__(self) -> dict[str, Any]:  # memory maps are reopened in each worker
        return {**self.__dict__, "_maps": None, "_ids": None}

    def __len__(self) -> int:
        return self.count

    def _map(self, name: str) -> np.ndarray:
        if self._maps is None:
            self._maps = {}
        arr = self._maps.get(name)
        if arr is None:
            arr = self._maps[name] = np.load(self.path / self.arrays[name].file, mmap_mode="r")
        return arr

    def sample_id(self, index: int) -> str:
        if self._ids is None:
            self._ids = json.loads((self.path / self.split / "ids.json").read_text())
        return self._ids[index]

    def _rows(self, name: str, index: int | np.ndarray) -> torch.Tensor:
        arr = self._map(name)
        if isinstance(index, np.ndarray):  # fancy indexing copies once, out of the map
            return torch.from_numpy(arr[index].view(np.ndarray))
        return torch.from_numpy(np.array(arr[index]))  # a view of the read-only map: copy

    def raw(self, index: int | np.ndarray) -> Batch:
        """Stored values: uint8 image, stored-dtype targets, bool masks; no derived tasks."""
        targets, masks = {}, {}
        for task in self.tasks:
            if task.target_is_input:
                continue
            targets[task.name] = self._rows(f"target.{task.name}", index)
            masks[task.name] = self._rows(f"mask.{task.name}", index)
        return {"image": self._rows("image", index), "targets": targets, "masks": masks}

    def finish(self, batch: Batch) -> Batch:
        """A raw batch (or sample) as the readers give it, computed where it lies."""
        image = batch["image"]
        if image.dtype == torch.uint8:
            image = image.float() / 255.0
        targets, masks = {}, {}
        for task in self.tasks:
            if task.target_is_input:
                targets[task.name] = task.target_from_input(image)
                masks[task.name] = torch.ones(
                    (*image.shape[:-3], 1, *image.shape[-2:]), dtype=torch.bool, device=image.device
                )
                continue
            load = _torch_dtype(self.arrays[f"target.{task.name}"].load_dtype)
            targets[task.name] = batch["targets"][task.name].to(load)
            masks[task.name] = batch["masks"][task.name]
        return {**batch, "image": image, "targets": targets, "masks": masks}

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.count:
            raise IndexError(index)
        return {**self.finish(self.raw(index)), "id": self.sample_id(index)}

    def quantised(self) -> QuantisedBatches:
        return QuantisedBatches(self)


class QuantisedBatches(Dataset):
    """A packed split indexed by a list of sample indices: one raw batch per list, read
    with one fancy index per array (for a DataLoader with a batch sampler, batch_size=None)."""

    def __init__(self, split: PackedSplit):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, indices: Sequence[int]) -> Batch:
        return self.split.raw(np.asarray(indices, dtype=np.int64))
