"""The task registry: names, letters, lookups, errors and dataset inference."""

from __future__ import annotations

import pytest
import torch

from mtsweep.errors import MtsweepError
from tasks.datasets import dataset_names
from tasks.registry import (
    UnknownTaskError,
    get_task,
    infer_dataset,
    parse_tasks,
    tasks_of,
)


def test_names_letters_and_channels() -> None:
    assert [t.letter for t in tasks_of("taskonomy")] == list("sdDneEkKprA")
    assert [t.name for t in parse_tasks("cityscapes", "sdA")] == [
        "segment_semantic",
        "depth",
        "autoencoder",
    ]
    assert [t.name for t in parse_tasks("taskonomy", "normal, depth_zbuffer")] == [
        "normal",
        "depth_zbuffer",
    ]
    assert get_task("taskonomy", "D").name == "depth_euclidean"
    assert get_task("taskonomy", "s").channels == 18
    assert get_task("cityscapes", "s").channels == 19
    assert get_task("taskonomy", "s").file_suffix == "segmentsemantic"
    assert dataset_names() == ("taskonomy", "cityscapes")


def test_unknown_names_are_user_errors_that_name_the_known_ones() -> None:
    with pytest.raises(UnknownTaskError, match="twice"):
        parse_tasks("taskonomy", "ss")
    with pytest.raises(UnknownTaskError, match="known tasks: segment_semantic \\(s\\)"):
        get_task("cityscapes", "normal")
    with pytest.raises(UnknownTaskError, match="taskonomy, cityscapes"):
        tasks_of("imagenet")
    with pytest.raises(UnknownTaskError, match="standley, taskonomy"):
        get_task("taskonomy", "d", convention="omnidata")
    assert issubclass(UnknownTaskError, MtsweepError)
    assert issubclass(UnknownTaskError, ValueError)


def test_only_the_autoencoders_take_their_target_from_the_input() -> None:
    for dataset in dataset_names():
        from_input = {t.name for t in tasks_of(dataset) if t.target_is_input}
        assert from_input == {"autoencoder"}, dataset
        for task in tasks_of(dataset):
            assert (task.decode is None) == task.target_is_input, task.name
    image = torch.rand(3, 4, 4)
    assert torch.equal(get_task("taskonomy", "A").target_from_input(image), image)


def test_every_regression_task_documents_its_units() -> None:
    for dataset in dataset_names():
        for task in tasks_of(dataset):
            assert task.units, (dataset, task.name)


@pytest.mark.parametrize(
    "names, dataset",
    [
        (["depth"], "cityscapes"),
        (["segment_semantic", "depth", "autoencoder"], "cityscapes"),
        (["segment_semantic", "normal"], "taskonomy"),
        (["depth_euclidean"], "taskonomy"),
        (["segment_semantic", "autoencoder"], "taskonomy"),  # in both: the paper's main one
        ([], "taskonomy"),
    ],
)
def test_infer_dataset_from_task_names(names: list[str], dataset: str) -> None:
    assert infer_dataset(names) == dataset


def test_infer_dataset_refuses_a_mix() -> None:
    with pytest.raises(UnknownTaskError, match="depth, normal"):
        infer_dataset(["depth", "normal"])
