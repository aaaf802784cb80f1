"""The reductions' one picture style: matplotlib's object API (no pyplot, no global backend),
a constrained layout, one resolution, atomic saves in the format the path names.

Only ``draw`` functions import this module, so reducing or checking a sweep never loads
matplotlib.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mtsweep.atomic import replace_atomically

DPI = 110
BASELINE_STYLE = {"color": "tab:blue", "linewidth": 3.0, "zorder": 3}
OTHER_COLORS = (
    "tab:orange",
    "tab:green",
    "tab:red",
    "tab:purple",
    "tab:brown",
    "tab:pink",
    "tab:gray",
    "tab:olive",
    "tab:cyan",
)
MUTED = "0.55"  # text of values whose interval includes 0


def figure(width: float, height: float) -> Figure:
    """A figure detached from any GUI, laid out so titles and legends never overlap."""
    return Figure(figsize=(width, height), layout="constrained")


def save(fig: Figure, path: Path) -> Path:
    """The figure in the format of ``path``'s suffix, atomically."""
    fmt = Path(path).suffix.removeprefix(".")
    return replace_atomically(
        Path(path), lambda tmp: fig.savefig(tmp, format=fmt, dpi=DPI, bbox_inches="tight")
    )


def error_bars(std: pd.Series) -> np.ndarray:
    """Seed standard deviations as error bars, none where a single seed ran."""
    return std.fillna(0.0).to_numpy()
