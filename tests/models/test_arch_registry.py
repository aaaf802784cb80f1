"""The architecture registry: names, dispatch, refusals, and adding an architecture."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import models
from models import MultiTaskNet, UnknownArchError, arch_names, build_model, register_arch, registry
from mtsweep.errors import MtsweepError
from mtsweep.registry import resolve
from tasks.registry import parse_tasks

TASKS = parse_tasks("cityscapes", "sd")


def test_the_papers_architectures_are_registered():
    assert {"resnet18", "drn_d_22", "drn_d_105"} <= set(arch_names())
    assert len(set(arch_names())) == len(arch_names())


def test_unknown_architecture_is_a_user_error_naming_the_known_ones():
    with pytest.raises(UnknownArchError) as err:
        build_model("vgg16", TASKS)
    assert isinstance(err.value, MtsweepError)
    for name in arch_names():
        assert name in str(err.value)


def test_a_model_needs_a_task():
    with pytest.raises(MtsweepError, match="at least one task"):
        build_model("drn_d_22", [])


SEEN: dict = {}


def tiny(tasks, width=None, init_from=None):
    """A builder in a module of its own (this one), registered by reference."""
    SEEN.update(width=width, init_from=init_from)
    enc = nn.Conv2d(3, 4, 3, padding=1)
    return MultiTaskNet(enc, {t.name: nn.Conv2d(4, t.channels, 1) for t in tasks})


def test_an_architecture_registered_by_reference_is_buildable(monkeypatch):
    known = registry.ARCHITECTURES
    monkeypatch.setattr(known, "_entries", dict(known._entries))
    register_arch("tiny_test_arch", f"{__name__}:tiny")
    assert "tiny_test_arch" in models.arch_names()
    model = build_model("tiny_test_arch", TASKS, width=2.0)
    assert SEEN == {"width": 2.0, "init_from": None}
    out = model(torch.rand(1, 3, 8, 8))
    assert {k: v.shape[1] for k, v in out.items()} == {t.name: t.channels for t in TASKS}
    register_arch("tiny_test_arch", f"{__name__}:tiny")  # the same line run again
    with pytest.raises(UnknownArchError, match="'tiny_test_arch' of .* is taken by"):
        register_arch("tiny_test_arch", f"{__name__}:other")


def test_every_registered_builder_resolves_to_a_function_of_its_module():
    for name in arch_names():
        reference = registry.ARCHITECTURES.get(name)
        module, _, function = reference.partition(":")
        builder = resolve(reference)
        assert callable(builder) and builder.__module__ == module and builder.__name__ == function
