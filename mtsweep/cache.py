"""Where this machine keeps what it can make again: synthetic data, copies of packed data
published to object storage, and an empty MLflow store to copy (``$MTSWEEP_CACHE``)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """``$MTSWEEP_CACHE``, else ``~/.cache/mtsweep``."""
    return Path(os.environ.get("MTSWEEP_CACHE", Path.home() / ".cache" / "mtsweep"))
