"""The architecture registry: every architecture registers its builder where it is defined.

``@register_arch("name")`` on a builder ``(tasks, width, init_from) -> MultiTaskNet`` is all
an architecture module does to become selectable by name, once ``models/__init__.py``
imports it; ``build_model`` and ``arch_names`` (and through them the sweep validation and
the CLI) only ask this registry. Adding an architecture is one module in ``models/``, its
import line and its test.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from pathlib import Path

from models.multitask import MultiTaskNet
from mtsweep.errors import MtsweepError
from mtsweep.registry import Registry
from tasks.registry import Task

Builder = Callable[..., MultiTaskNet]  # (tasks, width, init_from[, output_stride, decoder])
PUBLISHED = "published"  # a model's decoders as the architecture publishes them


class UnknownArchError(MtsweepError):
    """An architecture name no module registered (or one taken by another builder)."""


ARCHITECTURES: Registry[Builder] = Registry("architecture", UnknownArchError)


def register_arch(name: str) -> Callable[[Builder], Builder]:
    """Register the decorated builder under ``name`` (a name taken by another is refused)."""
    return ARCHITECTURES.register(name)


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
    builder = ARCHITECTURES.get(arch)
    if not tasks:
        raise MtsweepError("a model needs at least one task")
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
