"""Fig. 7 heatmaps: the grid as drawn (n/a, blank diagonal, λ columns, grey and outlined
cells), and real picture files per eval in each format."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestrator.reductions import fig7
from orchestrator.reductions.naming import task_order
from orchestrator.reductions.table import ReduceError
from tests.helpers.trial_tables import D, N, S, is_picture, trial_row


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
