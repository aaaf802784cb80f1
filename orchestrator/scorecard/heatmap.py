"""The scorecard's picture: per Fig. 7 matrix compared, three panels over the same cells —
our gains | the paper's | whether their signs agree. Imported only to draw."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from orchestrator.scorecard.compare import BASELINE
from orchestrator.scorecard.published import FIG7_TASKS


def _grid(cells: pd.DataFrame, column: str, mains: list[str], auxes: list[str]) -> np.ndarray:
    values = np.full((len(mains), len(auxes)), np.nan)
    for row in cells.itertuples():
        values[mains.index(row.main_task), auxes.index(row.model)] = getattr(row, column)
    return values


def _agreement(cells: pd.DataFrame, mains: list[str], auxes: list[str]) -> np.ndarray:
    values = np.full((len(mains), len(auxes)), np.nan)
    for row in cells.itertuples():
        if pd.notna(row.sign_agrees):
            values[mains.index(row.main_task), auxes.index(row.model)] = float(row.sign_agrees)
    return values


def draw(card: pd.DataFrame, out_dir: Path, fmt: str = "png") -> list[Path]:
    """``scorecard_<eval>[_<arch>].<fmt>`` for each Fig. 7 matrix the scorecard holds."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap, TwoSlopeNorm

    from orchestrator.reductions.fig7 import colour_limit
    from orchestrator.reductions.plotting import figure, save
    from orchestrator.reductions.table import picture_path

    fig7 = card[card["source"].str.startswith("Fig. 7") & (card["model"] != BASELINE)]
    several_archs = fig7["arch"].nunique() > 1
    paths = []
    for (source, eval_, arch), cells in fig7.groupby(["source", "eval", "arch"], sort=False):
        mains = [t for t in FIG7_TASKS if t in set(cells["main_task"])]
        auxes = [t for t in FIG7_TASKS if t in set(cells["model"])]
        ours = _grid(cells, "ours_gain_pct", mains, auxes)
        paper = _grid(cells, "paper_gain_pct", mains, auxes)
        limit = colour_limit(np.concatenate([ours.ravel(), paper.ravel()]))
        norm = TwoSlopeNorm(0.0, -limit, limit)
        cmap = colormaps["RdBu"].with_extremes(bad="white")
        fig = figure(3.0 + 1.6 * len(auxes), 1.5 + 0.4 * len(mains))
        axes = fig.subplots(1, 3, sharey=True)
        for ax, values, title in ((axes[0], ours, "ours"), (axes[1], paper, "paper")):
            mesh = ax.imshow(values, cmap=cmap, norm=norm, aspect="auto")
            for i in range(len(mains)):
                for j in range(len(auxes)):
                    if np.isfinite(values[i, j]):
                        ax.text(
                            j,
                            i,
                            f"{round(values[i, j], 9):+.1f}",
                            ha="center",
                            va="center",
                            fontsize=6,
                        )
            ax.set_title(f"{title} (relative improvement, %)", fontsize=8)
        fig.colorbar(mesh, ax=axes[:2], fraction=0.03, pad=0.02)
        agree = _agreement(cells, mains, auxes)
        two = ListedColormap(["tab:red", "tab:green"]).with_extremes(bad="0.9")
        axes[2].imshow(agree, cmap=two, vmin=0, vmax=1, aspect="auto")
        n, m = int(np.nansum(agree)), int(np.isfinite(agree).sum())
        axes[2].set_title(f"signs agree {n}/{m} (green)", fontsize=8)
        for ax in axes:
            ax.set_xticks(range(len(auxes)), auxes, rotation=60, ha="right", fontsize=7)
        axes[0].set_yticks(range(len(mains)), mains, fontsize=7)
        fig.suptitle(f"{source}, {eval_}" + (f" [{arch}]" if arch else ""), fontsize=9)
        stem = f"scorecard_{eval_}" + (f"_{arch}" if several_archs and arch else "")
        paths.append(save(fig, picture_path(out_dir, stem, fmt)))
    return paths
