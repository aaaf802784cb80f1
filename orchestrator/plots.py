"""Figure 7 as annotated heatmaps: rows are main tasks, columns the baseline's value, each
auxiliary task's relative improvement (diverging colours centred on 0) and the row mean.

A cell with no finished trial is drawn hatched and marked "n/a": a missing result must
never read as "no change".
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from orchestrator.atomic import replace_atomically  # noqa: E402
from orchestrator.reduce import cells, row_means, summarize, summary_line  # noqa: E402
from tasks.registry import tasks_of  # noqa: E402

# The paper's row and column order in Fig. 7 (a) and (b).
FIG7_ORDER = (
    "segment_semantic",
    "depth_zbuffer",
    "edge_texture",
    "normal",
    "reshading",
    "keypoints2d",
    "keypoints3d",
    "depth_euclidean",
    "autoencoder",
    "edge_occlusion",
    "principal_curvature",
)
MISSING = "n/a"


def task_order(names: set[str], dataset: str) -> list[str]:
    """The paper's order first, then the registry's, then anything else alphabetically."""
    known = [*FIG7_ORDER, *(t.name for t in tasks_of(dataset))]
    rank = {name: i for i, name in enumerate(dict.fromkeys(known))}
    return sorted(names, key=lambda n: (rank.get(n, len(rank)), n))


def _layout(result: pd.DataFrame, eval_: str, dataset: str) -> tuple[list[str], list[str]]:
    rows = result[result["eval"] == eval_]
    mains = task_order(set(rows["main_task"]), dataset)
    auxes = task_order(set(cells(rows)["aux_task"]), dataset)
    return mains, auxes


def _cell_lookup(rows: pd.DataFrame) -> tuple[dict[tuple[str, str], float], pd.Series]:
    """(main, aux) → relative improvement, and main → row mean, for one eval's rows."""
    rel = {
        (m, a): v
        for m, a, v in zip(
            rows["main_task"], rows["aux_task"], rows["rel_improvement_pct"], strict=True
        )
    }
    return rel, row_means(rows).set_index("main_task")["mean_rel_improvement_pct"]


def annotation_grid(
    result: pd.DataFrame, eval_: str, dataset: str = "taskonomy"
) -> tuple[list[str], list[str], list[list[str]]]:
    """(row labels, column labels, cell texts) of one heatmap, exactly as drawn."""
    rows = result[result["eval"] == eval_]
    mains, auxes = _layout(result, eval_, dataset)
    rel, means = _cell_lookup(rows)
    base = rows[rows["aux_task"].isna()].set_index("main_task")["baseline"]
    grid = []
    for main in mains:
        b = base.get(main, math.nan)
        line = [MISSING if not np.isfinite(b) else f"{b:.3g}"]
        for aux in auxes:
            v = rel.get((main, aux), math.nan)
            line.append("" if aux == main else MISSING if not np.isfinite(v) else f"{v:+.2f}")
        m = means.get(main, math.nan)
        line.append(MISSING if not np.isfinite(m) else f"{m:+.2f}")
        grid.append(line)
    return mains, ["baseline", *auxes, "mean"], grid


def _values(result: pd.DataFrame, eval_: str, mains: list[str], auxes: list[str]) -> np.ndarray:
    """Relative improvements in drawing order: columns aux…, mean; NaN where not coloured."""
    rows = result[result["eval"] == eval_]
    rel, means = _cell_lookup(rows)
    out = np.full((len(mains), len(auxes) + 1), np.nan)
    for i, main in enumerate(mains):
        for j, aux in enumerate(auxes):
            out[i, j] = rel.get((main, aux), np.nan)
        out[i, -1] = means.get(main, np.nan)
    return out


def plot_fig7(result: pd.DataFrame, out_dir: Path, dataset: str = "taskonomy") -> list[Path]:
    """One ``fig7_<eval>.png`` per evaluation in the result table."""
    out_dir = Path(out_dir)
    summary = summarize(result)
    paths = []
    for eval_ in result["eval"].unique():
        mains, columns, texts = annotation_grid(result, eval_, dataset)
        auxes = columns[1:-1]
        values = _values(result, eval_, mains, auxes)
        finite = np.abs(values[np.isfinite(values)])
        limit = max(float(finite.max()) if finite.size else 1.0, 1e-6)
        fig, ax = plt.subplots(figsize=(1.0 + 0.75 * len(columns), 1.2 + 0.5 * len(mains)))
        image = np.full((len(mains), len(columns)), np.nan)
        image[:, 1:] = values
        cmap = plt.get_cmap("RdBu").with_extremes(bad="white")
        mesh = ax.imshow(image, cmap=cmap, norm=TwoSlopeNorm(0.0, -limit, limit), aspect="auto")
        for i in range(len(mains)):
            for j, text in enumerate(texts[i]):
                if text == MISSING and j > 0:
                    ax.add_patch(
                        Rectangle(
                            (j - 0.5, i - 0.5),
                            1,
                            1,
                            facecolor="0.85",
                            hatch="///",
                            edgecolor="0.6",
                            linewidth=0,
                        )
                    )
                strong = j > 0 and np.isfinite(image[i, j]) and abs(image[i, j]) > 0.6 * limit
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if strong else "black",
                )
        ax.axvline(0.5, color="black", linewidth=1)
        ax.axvline(len(columns) - 1.5, color="black", linewidth=1)
        ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", fontsize=8)
        ax.set_yticks(range(len(mains)), mains, fontsize=8)
        ax.set_xlabel("auxiliary task")
        ax.set_ylabel("main task")
        line = summary_line({eval_: summary[eval_]}) if eval_ in summary else eval_
        ax.set_title(f"relative improvement (%) — {line}", fontsize=9)
        fig.colorbar(mesh, ax=ax, fraction=0.03, pad=0.02, label="relative improvement (%)")
        path = out_dir / f"fig7_{eval_}.png"
        replace_atomically(
            path, lambda tmp, fig=fig: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        )
        plt.close(fig)
        paths.append(path)
    return paths
