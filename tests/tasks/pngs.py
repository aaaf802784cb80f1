"""Writing small label files for the reader tests, as the real datasets store them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def save(path: Path, arr: np.ndarray) -> Path:
    """``arr`` as a PNG at ``path`` (uint8 → 8-bit, uint16 → 16-bit gray), folders made."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path
