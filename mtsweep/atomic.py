"""Write-then-rename, so no reader (a resumed sweep, a user's notebook) sees half a file."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path


def replace_atomically(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write`` on a temporary sibling of ``path``, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_parquet(table, path: Path) -> Path:
    """A DataFrame as Parquet, atomically."""
    return replace_atomically(path, lambda tmp: table.to_parquet(tmp, index=False))
