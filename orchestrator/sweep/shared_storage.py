"""Where checkpoints and kept results live: a directory every node mounts, nothing else.

Trials write checkpoints and results with ordinary file operations and rely on an atomic
rename (temporary file, fsync, ``os.replace``). A bucket URI is not a directory:
``Path("s3://bucket/x")`` would silently become a local folder ``./s3:/bucket/x`` on each
node, so any URI scheme is refused in one line. Object storage can serve only through a
POSIX mount that renames atomically (see docs/cluster.md §2).
"""

from __future__ import annotations

import re
from pathlib import Path

from tasks.errors import MtsweepError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:/")


class StorageError(MtsweepError):
    """A --storage (or --out) that is not a usable local or mounted directory."""


def storage_dir(value: str | Path, flag: str = "--storage") -> Path:
    """A storage value as a directory path, refusing URIs and existing non-directories."""
    text = str(value)
    if _SCHEME.match(text):
        raise StorageError(
            f"{flag} {text}: bucket URIs are not supported; mount the bucket as a file "
            "system that can rename atomically on every node and pass the mount point "
            "(docs/cluster.md §2)"
        )
    path = Path(text).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise StorageError(f"{flag} {text}: {existing} is a file; give a directory")
    return path
