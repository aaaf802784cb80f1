"""The architecture registry: every architecture's name and the builder that makes it.

``models/__init__.py`` registers each architecture by name with a reference to its builder
``(tasks, width, init_from) -> MultiTaskNet`` (``"models.drn:drn_d_22"``); ``build_model``
imports the builder's module when it builds one, so ``arch_names`` (and through it the sweep
validation and the CLI) reads names without importing torch. Adding an architecture is one
module in ``models/``, its line in ``models/__init__.py`` and its test.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mtsweep.errors import MtsweepError
from mtsweep.registry import Registry, resolve
from tasks.registry import Task

if TYPE_CHECKING:
    from models.multitask import MultiTaskNet

Builder = Callable[..., "MultiTaskNet"]  # (tasks, width, init_from[, output_stride, decoder])
PUBLISHED = "published"  # a model's decoders as the architecture publishes them


class UnknownArchError(MtsweepError):
    """An architecture name no module registered (or one taken by another builder)."""


# Architecture name -> its builder, as "package.module:function".
ARCHITECTURES: Registry[str] = Registry("architecture", UnknownArchError)


def register_arch(name: str, builder: str) -> str:
    """Register ``builder`` (``"package.module:function"``) under ``name``; a name taken by
    another builder is refused."""
    return ARCHITECTURES.register(name, builder)


def arch_names() -> tuple[str, ...]:
    """The registered architecture names, in registration order."""
    return ARCHITECTURES.names()


def build_model(
    arch: str,
    tasks: Sequence[Task],
    width: float | None = None,
    init_from: str | Path | None = None,
    output_stride: int | None = None,
    decoder: str = PUBLISHED,
) -> MultiTaskNet:
    """A shared-encoder network with one decoder per task.

    ``width`` scales the channels (its unit is the architecture's: the ResNet base width,
    64 as published, or the DRN channel multiplier, 1.0); None means the published size.
    ``init_from`` is a file of published weights the architecture knows how to read.
    ``output_stride`` (None: the published network's) and ``decoder`` (other than
    'published') are passed only to a builder that takes them as arguments; for any other
    the setting is refused, so a builder of a fixed network never sees them.
    """
    reference = ARCHITECTURES.get(arch)
    if not tasks:
        raise MtsweepError("a model needs at least one task")
    builder: Builder = resolve(reference)
    options = {"output_stride": output_stride} if output_stride is not None else {}
    if decoder != PUBLISHED:
        options["decoder"] = decoder
    takes = inspect.signature(builder).parameters
    for name in options:
        if name not in takes:
            raise MtsweepError(
                f"model.{name}: architecture {arch!r} has no such choice; drop {name}"
            )
    return builder(tasks, width, None if init_from is None else Path(init_from), **options)
