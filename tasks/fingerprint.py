"""A cheap identity of a data root, so a re-synced or edited copy reads as changed.

Used wherever the project asks "is this the same data as before": a packed dataset records
the fingerprint of the source it was made from, and every run records the fingerprint of
each real data root it reads. Nothing is read but the directory listing and file stats.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

SAMPLE = 512  # the first files (in sorted order) whose size and mtime enter the digest
EVERY = 97  # after those, every 97th file does
MAX_FILES = 200_000  # counting stops here: a full Taskonomy copy holds millions of files


def fingerprint(root: Path) -> dict[str, Any]:
    """``{"root", "files", "digest"}`` of a directory: its resolved path, its file count (at
    most ``MAX_FILES``), and a digest of the relative path, size and modification time of a
    sample of its files (the first ``SAMPLE`` in sorted order, then every ``EVERY``-th)."""
    root = Path(root).resolve()
    digest = hashlib.sha256()
    count = 0
    for folder, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            count += 1
            if count <= SAMPLE or count % EVERY == 0:
                path = os.path.join(folder, name)
                st = os.stat(path)
                rel = os.path.relpath(path, root)
                digest.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
            if count >= MAX_FILES:
                break
        if count >= MAX_FILES:
            break
    return {"root": str(root), "files": count, "digest": digest.hexdigest()[:16]}
