"""Tasks of the paper: the registry, readers of the real on-disk formats, and synthetic data.

The registry's names are loaded on first use, so light modules of this package (the error
types a CLI needs to print one line) do not pull in torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Task", "get_task", "parse_tasks", "tasks_of"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("tasks.registry"), name)
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")
