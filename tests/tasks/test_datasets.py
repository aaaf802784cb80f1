"""The dataset table: each name gives its reader, synthetic writer and paper image size."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtsweep.errors import MtsweepError
from tasks.cityscapes_data import CityscapesDataset
from tasks.datasets import get_dataset
from tasks.registry import parse_tasks
from tasks.taskonomy_data import TaskonomyDataset


def test_each_dataset_has_its_reader_and_paper_size() -> None:
    assert get_dataset("taskonomy").reader is TaskonomyDataset
    assert get_dataset("cityscapes").reader is CityscapesDataset
    assert get_dataset("taskonomy").image_size == 256  # Standley / MTRobust 256×256
    assert get_dataset("cityscapes").image_size == 340  # the paper's 680×340


def test_unknown_dataset_names_the_known_ones() -> None:
    with pytest.raises(MtsweepError, match="unknown dataset 'kitti'; known: taskonomy, cityscapes"):
        get_dataset("kitti")


@pytest.mark.parametrize("name", ["taskonomy", "cityscapes"])
def test_the_synthetic_writer_writes_what_the_reader_reads(tmp_path: Path, name: str) -> None:
    kind = get_dataset(name)
    report = kind.write_synthetic(tmp_path, n=3, size=16, seed=0)
    assert report.n_images == 3 and report.dataset == name
    tasks = parse_tasks(name, "sdA")
    train = kind.reader(tmp_path, tasks, split="train", size=16, cache=False)
    val = kind.reader(tmp_path, tasks, split="val", size=16, cache=False)
    assert len(train) + len(val) <= 3 and len(train) >= 1 and len(val) >= 1
    sample = train[0]
    assert set(sample["targets"]) == {t.name for t in tasks}
    assert sample["image"].shape[-2] == 16
