"""The dataset registry: each dataset module registers its reader, writer and tasks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tasks.cityscapes_data import CITYSCAPES_TASKS, CityscapesDataset
from tasks.dataset_kind import DatasetKind, register_dataset
from tasks.datasets import dataset_names, dataset_tasks, get_dataset
from tasks.errors import UnknownTaskError
from tasks.registry import infer_dataset, tasks_of
from tasks.taskonomy_data import TASKONOMY_TASKS


def test_the_papers_datasets_register_their_task_tables_taskonomy_first():
    assert dataset_names() == ("taskonomy", "cityscapes")
    assert dataset_tasks("taskonomy") == TASKONOMY_TASKS and len(TASKONOMY_TASKS) == 11
    assert dataset_tasks("cityscapes") == CITYSCAPES_TASKS
    assert [t.name for t in tasks_of("cityscapes")] == ["segment_semantic", "depth", "autoencoder"]
    assert infer_dataset(["segment_semantic", "autoencoder"]) == "taskonomy"  # order 0 first
    assert infer_dataset(["depth"]) == "cityscapes"


def test_an_unknown_dataset_is_refused_everywhere_naming_the_known_ones():
    for lookup in (get_dataset, dataset_tasks, tasks_of):
        with pytest.raises(UnknownTaskError, match="'kitti'; known: taskonomy, cityscapes"):
            lookup("kitti")


def kind(name: str) -> DatasetKind:
    return DatasetKind(name, CityscapesDataset, lambda out_dir, **kw: None, image_size=8)


def test_a_table_must_be_the_datasets_own_and_unique():
    with pytest.raises(
        UnknownTaskError, match="'toy': task 'segment_semantic' says dataset='cityscapes'"
    ):
        register_dataset(kind("toy"), CITYSCAPES_TASKS)
    twice = [replace(t, dataset="toy") for t in CITYSCAPES_TASKS[:2]]
    twice[1] = replace(twice[1], letter=twice[0].letter)
    with pytest.raises(UnknownTaskError, match="task letter 's' twice"):
        register_dataset(kind("toy"), twice)
    with pytest.raises(UnknownTaskError, match="registers no tasks"):
        register_dataset(kind("toy"), [])
    assert "toy" not in dataset_names()


def test_a_taken_name_is_refused():
    other = DatasetKind("taskonomy", CityscapesDataset, lambda out_dir, **kw: None, 8)
    with pytest.raises(UnknownTaskError, match="'taskonomy' of .*CityscapesDataset is taken"):
        register_dataset(other, [replace(t, dataset="taskonomy") for t in CITYSCAPES_TASKS])
    assert get_dataset("taskonomy").image_size == 256
