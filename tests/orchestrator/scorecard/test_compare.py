"""The scorecard on the paper's own numbers fed as a run (full agreement), on the same
numbers shuffled (no agreement), on a subset of the tasks, and the command's refusals."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from orchestrator.cli import main as mtsweep
from orchestrator.reductions import attack_table, fig7
from orchestrator.reductions.table import read_result_table, write_result_table
from orchestrator.scorecard.compare import (
    NothingToCompare,
    agreements,
    scorecard,
    table_rows,
)
from orchestrator.scorecard.published import CURVATURE, FIG7, TABLE2
from orchestrator.sweep.plan import REQUEST_FILE
from tests.orchestrator.reductions.conftest import is_picture, trial_row

S = "segment_semantic"


def _value(baseline: float, gain: float, higher_is_better: bool) -> float:
    """The value a model must have for ``gain`` % over ``baseline``."""
    return baseline * (1 + gain / 100) if higher_is_better else baseline * (1 - gain / 100)


def paper_trials(tasks=None, shuffle: int | None = None, seeds=(0,)) -> pd.DataFrame:
    """Fig. 7's numbers as a run's trials table (two seeds: jittered ±, same means);
    ``shuffle`` permutes each matrix's gains over its cells with that seed."""
    rows = []
    for matrix in FIG7:
        keys = [k for k in matrix.cells if tasks is None or set(k) <= set(tasks)]
        gains = [matrix.cells[k] for k in keys]
        if shuffle is not None:
            random.Random(shuffle).shuffle(gains)
        for i, seed in enumerate(seeds):
            jitter = 0.002 * (1 if i % 2 else -1) if len(seeds) > 1 else 0.0
            for main, base in matrix.baselines.items():
                if tasks is not None and main not in tasks:
                    continue
                metric = "miou" if main == S else "l1"
                rows.append(trial_row(main, "", seed, matrix.eval, metric, base))
            for (main, aux), gain in zip(keys, gains, strict=True):
                metric = "miou" if main == S else "l1"
                up = matrix.higher_is_better(main)
                value = _value(matrix.baselines[main], gain, up) * (1 + jitter)
                rows.append(trial_row(main, aux, seed, matrix.eval, metric, value))
    return pd.DataFrame(rows)


def _run_folder(tmp_path, trials: pd.DataFrame):
    results = tmp_path / "results"
    results.mkdir(parents=True)
    table = fig7.reduce(trials, "taskonomy")
    write_result_table(table, results / "fig7.parquet", fig7.summary(table))
    return tmp_path


def test_the_papers_own_numbers_agree_fully():
    card = scorecard(fig7.reduce(paper_trials(), "taskonomy"), {})
    cells = card[card["model"] != "baseline"]
    assert len(cells) == 220 and (card["model"] == "baseline").sum() == 22
    assert cells["sign_agrees"].all() and cells["difference"].abs().max() < 1e-9
    assert card.loc[card["model"] == "baseline", "difference"].abs().max() < 1e-12
    by = {(a.source, a.label): a for a in agreements(card)}
    full = by[("Fig. 7 (a)", "all cells")]
    assert (full.signs_agree, full.compared, full.spearman) == (110, 110, pytest.approx(1.0))
    assert full.ours == full.paper and full.paper.improved == 88  # the cells, not the text
    without = by[("Fig. 7 (b)", f"without {CURVATURE}")]
    assert (without.compared, without.signs_agree, without.spearman) == (90, 90, 1.0)


def test_the_command_writes_the_scorecard_and_its_heatmaps(tmp_path, capsys):
    tasks = [S, "depth_zbuffer", "normal", CURVATURE]
    out = _run_folder(tmp_path, paper_trials(tasks=tasks, seeds=(0, 1)))
    assert mtsweep(["compare", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    card = read_result_table(out / "results" / "scorecard.parquet")
    cells = card[card["model"] != "baseline"]
    assert len(cells) == 2 * 12
    # two seeds jittered about the paper's values: every interval holds the paper's gain
    assert cells["paper_in_interval"].all() and (cells["ci_high"] > cells["ci_low"]).all()
    assert "Fig. 7 (a) pgd50_eps4, all cells: signs agree 12/12; Spearman +1.00" in printed
    assert "without principal_curvature: signs agree 6/6" in printed
    assert "paper in our 95 % interval 12/12" in printed
    assert is_picture(out / "results" / "scorecard_pgd50_eps4.png")
    assert is_picture(out / "results" / "scorecard_clean.png")
    assert "| source |" in (out / "results" / "scorecard.md").read_text()


def test_a_shuffled_run_does_not_agree():
    table = fig7.reduce(paper_trials(shuffle=7), "taskonomy")
    for a in agreements(scorecard(table, {})):
        assert a.signs_agree < a.compared
        assert abs(a.spearman) < 0.5


def test_a_subset_of_the_tasks_compares_on_what_it_has():
    table = fig7.reduce(paper_trials(tasks=[S, "depth_zbuffer", "normal"]), "taskonomy")
    card = scorecard(table, {})
    assert set(card["main_task"]) == {S, "depth_zbuffer", "normal"}
    assert (card["model"] != "baseline").sum() == 2 * 6
    assert card.loc[card["model"] != "baseline", "sign_agrees"].all()
    # one seed: no interval, so no verdict on it
    assert card["paper_in_interval"].isna().all()


def test_a_published_table_fed_as_a_run_agrees():
    rows, label_tasks = [], {"s": S, "d": "depth", "A": "autoencoder"}
    for (main, eval_), values in TABLE2.values.items():
        for label, value in values.items():
            aux = "+".join(label_tasks[c] for c in label[1:])
            metric = "miou" if main == S else "abs_err"
            rows.append(trial_row(main, aux, 0, eval_, metric, value, arch="drn_d_22"))
    result = attack_table.reduce(pd.DataFrame(rows), "cityscapes")
    card = pd.DataFrame(table_rows(result, TABLE2))
    cells = card[card["paper_gain_pct"].notna()]
    assert len(card) == 8 * 4 + 7 * 4 and len(cells) == 15 * 3
    assert cells["sign_agrees"].all() and card["difference"].abs().max() == 0


def test_a_run_with_nothing_to_compare_is_refused_in_one_line(tmp_path, capsys):
    assert mtsweep(["compare", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "results/" in err and "Traceback" not in err
    # a result of a sweep the paper did not publish: only an evaluation it never ran
    trials = paper_trials(tasks=[S, "normal"])
    trials["eval"] = trials["eval"].map({"clean": "pgd5_eps2", "pgd50_eps4": "pgd7_eps2"})
    _run_folder(tmp_path, trials)
    with pytest.raises(NothingToCompare):
        scorecard(fig7.reduce(trials, "taskonomy"), {})
    assert mtsweep(["compare", "--out", str(tmp_path)]) == 2
    assert "no results the paper published" in capsys.readouterr().err


def test_an_attack_table_compares_by_the_sweep_the_run_recorded(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    (tmp_path / REQUEST_FILE).write_text(json.dumps({"sweep": "cityscapes-single-task-attack"}))
    rows = [
        trial_row(S, "", 0, "clean", "miou", 40.0, arch="drn_d_22"),
        trial_row(S, "depth", 0, "clean", "miou", 44.0, arch="drn_d_22"),
    ]
    result = attack_table.reduce(pd.DataFrame(rows), "cityscapes")
    write_result_table(result, tmp_path / "results" / "attack_table.parquet", "x")
    assert mtsweep(["compare", "--out", str(tmp_path)]) == 0
    assert "Table 2 clean [drn_d_22], all cells: signs agree 1/1" in capsys.readouterr().out
