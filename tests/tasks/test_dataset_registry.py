"""The dataset registry: each ``tasks/*_data.py`` registers its reader, writer and tasks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

from tasks import registry
from tasks.cityscapes_data import CityscapesDataset
from tasks.datasets import DatasetKind, dataset_names, dataset_tasks, get_dataset, register_dataset
from tasks.errors import UnknownTaskError
from tasks.registry import CITYSCAPES_TASKS, TASKONOMY_TASKS, infer_dataset, tasks_of


def test_the_papers_datasets_register_their_task_tables_taskonomy_first():
    assert dataset_names() == registry.DATASETS == ("taskonomy", "cityscapes")
    assert dataset_tasks("taskonomy") == TASKONOMY_TASKS and len(TASKONOMY_TASKS) == 11
    assert dataset_tasks("cityscapes") == CITYSCAPES_TASKS
    assert [t.name for t in tasks_of("cityscapes")] == ["segment_semantic", "depth", "autoencoder"]
    assert infer_dataset(["segment_semantic", "autoencoder"]) == "taskonomy"  # order 0 first
    assert infer_dataset(["depth"]) == "cityscapes"


def test_an_unknown_dataset_is_refused_everywhere_naming_the_known_ones():
    for lookup in (get_dataset, dataset_tasks, tasks_of):
        with pytest.raises(UnknownTaskError, match="'kitti'; choose one of taskonomy, cityscapes"):
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


def test_a_new_data_module_is_a_dataset(tmp_path):
    """Adding a dataset is adding its module: run against a copy of the package."""
    src = Path(__file__).resolve().parents[2]
    shutil.copytree(src / "tasks", tmp_path / "tasks")
    (tmp_path / "tasks" / "mirror_data.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import replace

            from tasks.cityscapes_data import CityscapesDataset
            from tasks.datasets import DatasetKind, register_dataset
            from tasks.registry import CITYSCAPES_TASKS


            class MirrorDataset(CityscapesDataset):
                pass


            register_dataset(
                DatasetKind("mirror", MirrorDataset, lambda out_dir, **kw: None, image_size=64),
                tasks=[replace(t, dataset="mirror") for t in CITYSCAPES_TASKS[1:]],
            )
            """
        )
    )
    script = textwrap.dedent(
        """
        from tasks.registry import DATASETS, parse_tasks
        from tasks.datasets import get_dataset
        assert DATASETS == ("taskonomy", "cityscapes", "mirror"), DATASETS
        assert [t.name for t in parse_tasks("mirror", "dA")] == ["depth", "autoencoder"]
        assert get_dataset("mirror").image_size == 64
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(src)])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
