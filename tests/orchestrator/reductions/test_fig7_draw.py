"""Fig. 7 heatmaps: the grid as drawn (n/a, blank diagonal, λ columns, grey and outlined
cells), and real picture files per eval in each format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestrator.reductions import fig7
from orchestrator.reductions.naming import task_order
from orchestrator.reductions.table import ReduceError
from tasks.registry import tasks_of
from tests.orchestrator.reductions.conftest import D, N, S, is_picture, trial_row


def test_grid_marks_missing_cells_and_blank_diagonal(fig7_trials):
    (heatmap,) = fig7.heatmaps(fig7.reduce(fig7_trials, "taskonomy"))
    assert heatmap.rows == [S, D, N]  # the paper's order
    assert heatmap.columns == ["baseline", S, D, N, "mean"]
    assert heatmap.texts[0] == ["40", "", "+10.00", "-5.00", "+2.50"]
    assert heatmap.texts[1] == ["0.5", "+20.00", "", "-20.00", "+0.00"]
    assert heatmap.texts[2] == ["0.2", "n/a", "+25.00", "", "+25.00"]
    assert np.isnan(heatmap.values[:, 0]).all()  # the baseline column is not coloured


def test_one_outlier_does_not_set_the_colour_scale_and_is_outlined():
    rows = [trial_row(S, "", 0, "clean", "miou", 10.0)]
    for i, aux in enumerate(task_order(["depth_zbuffer", "normal", "reshading", "edge_texture"])):
        rows.append(trial_row(S, aux, 0, "clean", "miou", 10.0 + 0.1 * (i + 1)))  # +1..+4 %
    rows.append(trial_row(S, "keypoints2d", 0, "clean", "miou", 100.0))  # +900 %
    (heatmap,) = fig7.heatmaps(fig7.reduce(pd.DataFrame(rows), "taskonomy"))
    assert heatmap.limit < 100
    outlier = heatmap.columns.index("keypoints2d")
    assert heatmap.clipped[0, outlier] and heatmap.clipped[0].sum() <= 2  # outlier (+ mean)
    assert not heatmap.clipped[0, heatmap.columns.index(D)]


def test_cells_whose_interval_spans_zero_are_muted():
    rows = []
    for seed, noise in ((0, -3.0), (1, 3.0)):
        rows.append(trial_row(S, "", seed, "clean", "miou", 40.0))
        rows.append(trial_row(S, D, seed, "clean", "miou", 41.0 + noise))  # uncertain
        rows.append(trial_row(S, N, seed, "clean", "miou", 44.0 + noise / 30))  # clearly up
    (heatmap,) = fig7.heatmaps(fig7.reduce(pd.DataFrame(rows), "taskonomy"))
    muted = dict(zip(heatmap.columns, heatmap.muted[0], strict=True))
    assert muted[D] and not muted[N] and not muted["baseline"]


def test_an_auxiliary_task_with_two_lambdas_gets_two_columns():
    rows = [trial_row(S, "", 0, "clean", "miou", 40.0, weights={S: 1.0})]
    for lam, value in ((0.1, 44.0), (0.01, 36.0)):
        rows.append(trial_row(S, D, 0, "clean", "miou", value, weights={S: 1.0, D: lam}))
    rows.append(trial_row(S, N, 0, "clean", "miou", 40.0, weights={S: 1.0, N: 0.01}))
    (heatmap,) = fig7.heatmaps(fig7.reduce(pd.DataFrame(rows), "taskonomy"))
    assert heatmap.columns == ["baseline", f"{D} λ=0.01", f"{D} λ=0.1", N, "mean"]
    assert heatmap.texts[0][1:3] == ["-10.00", "+10.00"]


def test_one_png_per_eval(fig7_trials, tmp_path):
    attacked = fig7_trials.assign(eval="pgd50_eps4", value=fig7_trials["value"] * 1.1)
    result = fig7.reduce(pd.concat([fig7_trials, attacked]), "taskonomy")
    paths = fig7.draw(result, tmp_path / "figs")
    assert sorted(p.name for p in paths) == ["fig7_clean.png", "fig7_pgd50_eps4.png"]
    assert all(is_picture(p) for p in paths)


@pytest.mark.parametrize("fmt", ["pdf", "svg"])
def test_other_formats(fig7_trials, tmp_path, fmt):
    (path,) = fig7.draw(fig7.reduce(fig7_trials, "taskonomy"), tmp_path, fmt=fmt)
    assert path.name == f"fig7_clean.{fmt}" and is_picture(path, fmt)


def test_unknown_format_is_refused(fig7_trials, tmp_path):
    with pytest.raises(ReduceError, match="format 'gif'.*png, pdf, svg"):
        fig7.draw(fig7.reduce(fig7_trials, "taskonomy"), tmp_path, fmt="gif")
    assert not list(tmp_path.iterdir())


def test_task_order_is_the_papers_then_the_rest():
    names = {"autoencoder", "normal", "segment_semantic", "zzz"}
    assert task_order(names) == ["segment_semantic", "normal", "autoencoder", "zzz"]


def _matrix(n_main: int, n_aux: int) -> pd.DataFrame:
    """A result table of ``n_main`` main tasks × ``n_aux`` auxiliary ones, two noisy seeds."""
    names = [t.name for t in tasks_of("taskonomy")]
    noise = np.random.default_rng(0).normal(size=(n_main, n_aux + 1, 2))
    rows = []
    for i, main in enumerate(names[:n_main]):
        metric = "miou" if main == S else "l1"
        for seed in (0, 1):
            rows.append(trial_row(main, "", seed, "clean", metric, 1 + 0.01 * noise[i, 0, seed]))
            others = [n for n in names if n != main][:n_aux]
            for j, aux in enumerate(others, start=1):
                value = 1 + 0.1 * noise[i, j, seed]
                rows.append(trial_row(main, aux, seed, "clean", metric, value))
    return fig7.reduce(pd.DataFrame(rows), "taskonomy")


def _laid_out(table: pd.DataFrame):
    """The figure of the table's one heatmap, laid out as saved; and its renderer."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    (heatmap,) = fig7.heatmaps(table)
    fig = fig7.heatmap_figure(heatmap, fig7.heatmap_title(heatmap, fig7.summarize(table)))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return fig, canvas.get_renderer()


@pytest.mark.parametrize(("n_main", "n_aux"), [(1, 1), (1, 10), (11, 10)])
def test_title_colour_bar_and_labels_never_overlap(n_main, n_aux):
    fig, renderer = _laid_out(_matrix(n_main, n_aux))
    ax, bar = fig.axes
    (title,) = fig.texts
    low, high = bar.get_ylim()
    bar_ticks = [t for t in bar.get_yticklabels() if low <= t.get_position()[1] <= high]
    box = {
        "title": title.get_window_extent(renderer),
        "matrix": ax.get_window_extent(renderer),
        "colour bar": bar.get_window_extent(renderer),
        "colour-bar label": bar.yaxis.label.get_window_extent(renderer),
        "x label": ax.xaxis.label.get_window_extent(renderer),
        "y label": ax.yaxis.label.get_window_extent(renderer),
    }
    for kind, labels in (("x", ax.get_xticklabels()), ("y", ax.get_yticklabels())):
        for i, label in enumerate(labels):
            box[f"{kind} tick {i}"] = label.get_window_extent(renderer)
    for i, label in enumerate(bar_ticks):
        box[f"colour-bar tick {i}"] = label.get_window_extent(renderer)
    names = list(box)
    for i, a in enumerate(names):
        assert fig.bbox.contains(box[a].x0, box[a].y0) and fig.bbox.contains(box[a].x1, box[a].y1)
        for b in names[i + 1 :]:
            inside = a in ("matrix", "colour bar") and b.startswith(
                ("x tick", "y tick", "colour-bar tick")
            )
            assert inside or not box[a].overlaps(box[b]), (a, b)
    # not squashed: the matrix keeps its rows' height, the colour bar readable ticks
    assert box["matrix"].height / fig.dpi >= 0.5 * n_main - 1e-6
    assert len(bar_ticks) >= 3
