"""Fig. 7 heatmaps: one valid PNG per eval; missing cells read n/a, the diagonal blank."""

from __future__ import annotations

import pandas as pd
from test_reduce import trials

from orchestrator.plots import annotation_grid, plot_fig7, task_order
from orchestrator.reduce import reduce_trials


def test_grid_marks_missing_cells_and_blank_diagonal():
    result = reduce_trials(trials())
    rows, columns, grid = annotation_grid(result, "clean")
    assert rows == ["segment_semantic", "depth_zbuffer", "normal"]  # the paper's order
    assert columns == ["baseline", "segment_semantic", "depth_zbuffer", "normal", "mean"]
    assert grid[0] == ["40", "", "+10.00", "-5.00", "+2.50"]
    assert grid[1] == ["0.5", "+20.00", "", "-20.00", "+0.00"]
    assert grid[2] == ["0.2", "n/a", "+25.00", "", "+25.00"]


def test_one_png_per_eval(tmp_path):
    t = trials()
    attacked = t.assign(eval="pgd50_eps4", value=t["value"] * 1.1)
    result = reduce_trials(pd.concat([t, attacked]))
    paths = plot_fig7(result, tmp_path / "figs")
    assert sorted(p.name for p in paths) == ["fig7_clean.png", "fig7_pgd50_eps4.png"]
    for p in paths:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_task_order_is_the_papers_then_the_rest():
    names = {"autoencoder", "normal", "segment_semantic", "zzz"}
    assert task_order(names, "taskonomy") == ["segment_semantic", "normal", "autoencoder", "zzz"]
