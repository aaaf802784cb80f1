"""The architecture registry: every architecture registers its builder where it is defined.

``@register_arch("name")`` on a builder ``(tasks, width, init_from) -> MultiTaskNet`` is all
an architecture module does to become selectable by name; ``build_model`` and
``arch_names`` (and through them the sweep validation and the CLI) only ask this table.
Adding an architecture is one module in ``models/`` and its test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from models.multitask import MultiTaskNet
from mtsweep.errors import MtsweepError
from tasks.registry import Task

Builder = Callable[[Sequence[Task], "float | None", "Path | None"], MultiTaskNet]

_BUILDERS: dict[str, Builder] = {}


class UnknownArchError(MtsweepError):
    """An architecture name no module registered."""


def register_arch(name: str) -> Callable[[Builder], Builder]:
    """Register the decorated builder under ``name`` (once: a second registration is a bug)."""

    def register(builder: Builder) -> Builder:
        if name in _BUILDERS:
            raise RuntimeError(f"architecture {name!r} is registered twice")
        _BUILDERS[name] = builder
        return builder

    return register


def arch_names() -> tuple[str, ...]:
    """The registered architecture names, in registration order."""
    return tuple(_BUILDERS)


def build_model(
    arch: str,
    tasks: Sequence[Task],
    width: float | None = None,
    init_from: str | Path | None = None,
) -> MultiTaskNet:
    """A shared-encoder network with one decoder per task.

    ``width`` scales the channels (its unit is the architecture's: the ResNet base width,
    64 as published, or the DRN channel multiplier, 1.0); None means the published size.
    ``init_from`` is a file of published weights the architecture knows how to read.
    """
    if arch not in _BUILDERS:
        raise UnknownArchError(f"unknown architecture {arch!r}; known: {', '.join(arch_names())}")
    if not tasks:
        raise MtsweepError("a model needs at least one task")
    return _BUILDERS[arch](tasks, width, None if init_from is None else Path(init_from))
