"""The attack-strength reduction on hand-built trials tables: Fig. 7's cells per attack and
steps, the chain summary, the gradient-norm rows, and its files."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from orchestrator.reductions import attack_strength, fig7, reduce_to, reduction_names
from orchestrator.reductions.table import ReduceError, read_summary
from tests.orchestrator.reductions.conftest import D, N, S, is_picture, trial_row

# Per evaluation, each pair's value (seed 0 and 1 jitter around it) against baselines
# s: miou 40 (higher is better), d: l1 0.5 (lower is better). The gain fades with steps.
PAIRS = {
    "clean": {(S, D): 44.0, (S, N): 42.0, (D, S): 0.4, (D, N): 0.45},
    "pgd10_eps4": {(S, D): 42.0, (S, N): 38.0, (D, S): 0.45, (D, N): 0.55},
    "pgd50_eps4": {(S, D): 36.0, (S, N): 30.0, (D, S): 0.6, (D, N): 0.7},
    "pgd10_eps4_mt": {(S, D): 20.0, (S, N): 20.0, (D, S): 0.9, (D, N): 0.8},
}
BASE = {S: ("miou", 40.0), D: ("l1", 0.5)}
# Main-task gradient norms: s+d's shrank (1.5 < 2), d+s's grew (0.3 > 0.25); the L1 norms
# of task_grad_l1 ten times larger, and after PGD-10 every pair's has shrunk.
NORMS = {(S, ""): 2.0, (S, D): 1.5, (D, ""): 0.25, (D, S): 0.3}
AFTER_PGD10 = {(S, ""): 30.0, (S, D): 10.0, (D, ""): 4.0, (D, S): 2.0}


def _trials(arch: str = "resnet18", seeds=((0, -0.001), (1, 0.001))) -> list[dict]:
    rows = []
    for seed, jitter in seeds:
        for eval_, pairs in PAIRS.items():
            for main, (metric, base) in BASE.items():
                scale = base * (1 + jitter)
                rows.append(trial_row(main, "", seed, eval_, metric, scale, arch=arch))
            for (main, aux), value in pairs.items():
                metric = BASE[main][0]
                rows.append(trial_row(main, aux, seed, eval_, metric, value, arch=arch))
        for (main, aux), value in NORMS.items():
            rows.append(trial_row(main, aux, seed, "vulnerability", "grad_norm", value, arch=arch))
            rows.append(trial_row(main, aux, seed, "task_grad_l1", "clean", 10 * value, arch=arch))
            after = AFTER_PGD10[(main, aux)]
            rows.append(trial_row(main, aux, seed, "task_grad_l1", "pgd10_eps4", after, arch=arch))
        rows.append(
            trial_row(S, D, seed, "vulnerability", "grad_norm", 9.0, task="joint", arch=arch)
        )
    return rows


@pytest.fixture
def table() -> pd.DataFrame:
    return attack_strength.reduce(pd.DataFrame(_trials()), "taskonomy")


def _cell(table, eval_, main, aux, kind=attack_strength.ATTACK):
    rows = table[(table["eval"] == eval_) & (table["main_task"] == main) & (table["kind"] == kind)]
    rows = rows[rows["aux_task"] == aux]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_relative_improvement_has_the_sign_of_better_for_both_directions(table):
    # miou higher is better: 44 vs 40 is +10 %; l1 lower is better: 0.4 vs 0.5 is +20 %.
    assert _cell(table, "clean", S, D)["rel_improvement_pct"] == pytest.approx(10.0, abs=0.1)
    assert _cell(table, "clean", D, S)["rel_improvement_pct"] == pytest.approx(20.0, abs=0.1)
    # Under PGD-50 both pairs are worse than their baselines: negative improvements.
    assert _cell(table, "pgd50_eps4", S, D)["rel_improvement_pct"] == pytest.approx(-10.0, abs=0.1)
    assert _cell(table, "pgd50_eps4", D, S)["rel_improvement_pct"] == pytest.approx(-20.0, abs=0.1)


def test_attack_cells_are_fig7s_cells_with_their_strength(table):
    expected = fig7.reduce(pd.DataFrame(_trials()), "taskonomy")
    cells = attack_strength.attack_cells(table)
    merged = cells.merge(expected, on=["eval", "main_task", "aux_task"], suffixes=("", "_fig7"))
    assert len(merged) == len(expected) == len(cells)
    for column in ("value", "baseline", "rel_improvement_pct", "ci_low", "ci_high"):
        assert merged[column].equals(merged[f"{column}_fig7"]), column
    strengths = cells.drop_duplicates("eval").set_index("eval")[["family", "steps", "eps"]]
    assert strengths.loc["clean"].tolist() == ["clean", 0, 0]
    assert strengths.loc["pgd50_eps4"].tolist() == ["pgd", 50, 4]
    assert strengths.loc["pgd10_eps4_mt"].tolist() == ["pgd_mt", 10, 4]


def test_rows_come_in_strength_order(table):
    evals = list(dict.fromkeys(attack_strength.attack_cells(table)["eval"]))
    assert evals == ["clean", "pgd10_eps4", "pgd50_eps4", "pgd10_eps4_mt"]  # joint ones last
    assert attack_strength.strength("vulnerability") is None


def test_families_name_their_combiner_and_worst_cases_their_members():
    strength = attack_strength.strength
    assert strength("pgd50_eps4_mt_dgba") == ("pgd_mt_dgba", 50, 4.0)
    assert strength("pgd50_eps4_mt_w0.1") == ("pgd_mt_w0.1", 50, 4.0)
    assert strength("apgd100_eps8") == ("apgd", 100, 8.0)
    # A worst case costs its members' steps together.
    assert strength("worst_pgd200_eps4-apgd100_eps4") == ("worst_pgd-apgd", 300, 4.0)
    names = ["pgd50_eps4_mt", "worst_pgd10_eps4-apgd10_eps4", "apgd100_eps4", "pgd200_eps4"]
    assert sorted(names, key=attack_strength.strength_order) == [
        "pgd200_eps4",
        "apgd100_eps4",
        "worst_pgd10_eps4-apgd10_eps4",
        "pgd50_eps4_mt",
    ]


def test_summary_chains_the_cells_improved_per_attack(table):
    line = attack_strength.summary(table)
    assert line.startswith("clean: improved 4/4 (+")
    assert " → pgd10: 2/4 (+0.00 %) → " in line  # s+d +5 %, d+s +10 %; the others −5, −10 %
    assert " → pgd50: 0/4 (" in line
    assert " → pgd10_mt: 0/4 (" in line
    assert line.endswith(
        "main-task gradient norm below the baseline's: task_grad_l1/clean 1/2,"
        " task_grad_l1/pgd10_eps4 2/2, vulnerability/grad_norm 1/2"
    )


def test_the_gradient_norm_rows_say_which_pairs_shrank_it(table):
    norms = table[table["kind"] == attack_strength.GRADIENT]
    shrunk = _cell(norms, "vulnerability", S, D, kind=attack_strength.GRADIENT)
    grown = _cell(norms, "vulnerability", D, S, kind=attack_strength.GRADIENT)
    assert shrunk["value"] == 1.5 and shrunk["baseline"] == 2.0 and shrunk["metric"] == "grad_norm"
    assert shrunk["rel_improvement_pct"] == pytest.approx(25.0)
    assert grown["rel_improvement_pct"] == pytest.approx(-20.0)
    assert not (table["main_task"] == "joint").any()  # the joint norm is not a task's own
    # task_grad_l1: one row per point, with the point's strength (clean, PGD-10)
    l1 = norms[(norms["eval"] == "task_grad_l1") & (norms["main_task"] == S)]
    l1 = l1[l1["aux_task"] == D].set_index("metric")
    assert l1.loc["clean", "rel_improvement_pct"] == pytest.approx(25.0)
    assert l1.loc["pgd10_eps4", "rel_improvement_pct"] == pytest.approx(100 * 20 / 30)
    assert l1.loc["pgd10_eps4", ["family", "steps"]].tolist() == ["pgd", 10]
    assert l1.loc["clean", ["family", "steps"]].tolist() == ["clean", 0]


def test_intervals_come_from_the_seeds():
    one_seed = attack_strength.reduce(pd.DataFrame(_trials(seeds=((0, 0.0),))), "taskonomy")
    cell = _cell(one_seed, "clean", S, D)
    assert math.isnan(cell["ci_low"]) and pd.isna(cell["significant"])
    two = attack_strength.reduce(pd.DataFrame(_trials()), "taskonomy")
    cell = _cell(two, "clean", S, D)
    assert cell["ci_low"] <= cell["rel_improvement_pct"] <= cell["ci_high"]
    lines = attack_strength.lines(two).set_index("eval")
    assert lines.loc["clean", "significant"] == 4 and lines.loc["pgd50_eps4", "improved"] == 0


def test_two_encoders_are_reduced_and_summarised_apart():
    rows = _trials("resnet18") + _trials("resnet50")
    # The ResNet-50 pairs lose their clean gain: the baselines are lifted above every pair.
    for row in rows:
        if row["arch"] == "resnet50" and row["aux_tasks"] == "" and row["eval"] == "clean":
            row["value"] = 50.0 if row["metric"] == "miou" else 0.3
    table = attack_strength.reduce(pd.DataFrame(rows), "taskonomy")
    lines = attack_strength.lines(table)
    assert lines.groupby("arch")["total"].max().to_dict() == {"resnet18": 4, "resnet50": 4}
    line = attack_strength.summary(table)
    assert "resnet18: clean: improved 4/4" in line
    assert "resnet50: clean: improved 0/4" in line


def test_a_table_without_attacks_is_refused():
    rows = [r for r in _trials() if r["eval"] in ("vulnerability", "task_grad_l1")]
    with pytest.raises(ReduceError, match="no clean or attack evaluations"):
        attack_strength.reduce(pd.DataFrame(rows), "taskonomy")


def test_reduce_to_writes_the_table_plot_heatmaps_and_tables(tmp_path):
    assert "attack_strength" in reduction_names()
    drawn = ("clean", "pgd50_eps4")
    trials = pd.DataFrame([r for r in _trials() if r["eval"] in (*drawn, "task_grad_l1")])
    paths, line = reduce_to(
        trials, "attack_strength", "taskonomy", tmp_path / "t.parquet", tmp_path
    )
    assert read_summary(tmp_path / "t.parquet") == line
    names = {p.name for p in paths}
    assert {"attack_strength.png", "attack_strength.md", "attack_strength.tex"} <= names
    assert {f"fig7_{e}.png" for e in drawn} <= names
    assert all(is_picture(p) for p in paths if p.suffix == ".png")
    tex = (tmp_path / "attack_strength.tex").read_text()
    assert r"\toprule" in tex and r"pgd50\_eps4 & 0/4" in tex
    md = (tmp_path / "attack_strength.md").read_text()
    assert "| resnet18 | clean | 4/4 | 4 |" in md


def test_an_attack_that_ran_for_one_main_task_has_no_missing_cells_for_the_others():
    rows = _trials(seeds=((0, 0.0),))
    for aux, value in (("", 40.0), (D, 30.0), (N, 44.0)):  # SegPGD: segmentation mains only
        rows.append(trial_row(S, aux, 0, "segpgd50_eps4", "miou", value, arch="resnet18"))
    table = attack_strength.reduce(pd.DataFrame(rows), "taskonomy")
    segpgd = attack_strength.attack_cells(table).query("eval == 'segpgd50_eps4'")
    assert set(segpgd["main_task"]) == {S}
    assert " → segpgd50: 1/2 (" in attack_strength.summary(table)
    assert "missing" not in attack_strength.summary(table)


def test_a_lambda_selection_gives_one_cell_per_pair_as_in_fig7():
    """seg+depth at λ 0.1 validates better (50 > 45) though it tests worse: its cells count."""

    def trial(aux, lam, selection, clean, pgd):
        weights = {S: 1.0} if lam is None else {S: 1.0, aux: lam}
        values = {"selection_val": selection, "clean": clean, "pgd50_eps4": pgd}
        return [trial_row(S, aux, 0, e, "miou", v, weights=weights) for e, v in values.items()]

    rows = trial("", None, 60.0, 40.0, 20.0) + trial(D, 0.1, 50.0, 41.0, 19.0)
    rows += trial(D, 0.01, 45.0, 46.0, 25.0)
    table = attack_strength.reduce(pd.DataFrame(rows), "taskonomy")
    cells = attack_strength.attack_cells(table).dropna(subset=["aux_task"])
    assert cells["eval"].tolist() == ["clean", "pgd50_eps4"]
    assert (cells["aux_weight"] == 0.1).all() and (cells["selected_on"] == "val").all()
    assert cells["value"].tolist() == [41.0, 19.0]
    assert attack_strength.summary(table) == "clean: improved 1/1 (+2.50 %) → pgd50: 0/1 (-5.00 %)"
