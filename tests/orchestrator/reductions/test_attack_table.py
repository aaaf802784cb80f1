"""Tables 1–3 on hand-built Cityscapes trials tables: order, flags, Markdown, LaTeX."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orchestrator.reductions import attack_table, reduce_to
from orchestrator.reductions.table import ReduceError
from tests.helpers.trial_tables import is_picture, trial_row
from tests.orchestrator.reductions.test_multitask_attack import one

SEG, DEPTH, AE = "segment_semantic", "depth", "autoencoder"
SEG_ATTACKS = ("clean", "fgsm_eps4", "pgd10_eps4", "mim100_eps4", "houdini100_eps4")
# (main, aux) -> clean value; attacked cells fall by a fixed step per attack
SEG_MODELS = {(SEG, ""): 48.0, (SEG, DEPTH): 49.0, (SEG, AE): 47.0, (SEG, f"{DEPTH}+{AE}"): 48.5}
DEPTH_MODELS = {
    (DEPTH, ""): 1.8,
    (DEPTH, SEG): 1.7,
    (DEPTH, AE): 1.9,
    (DEPTH, f"{AE}+{SEG}"): 1.75,
}


def single_task_attack_trials(**identity) -> pd.DataFrame:
    rows = []
    for seed in (0, 1):
        for (main, aux), clean in SEG_MODELS.items():
            for i, ev in enumerate(SEG_ATTACKS):
                rows.append(
                    trial_row(main, aux, seed, ev, "miou", clean - 10 * i + seed, **identity)
                )
                rows.append(trial_row(main, aux, seed, ev, "pixel_acc", 90.0, **identity))
            if DEPTH in aux:  # an auxiliary task's score: not part of any group
                rows.append(trial_row(main, aux, seed, "clean", "abs_err", 0.1, DEPTH, **identity))
        for (main, aux), clean in DEPTH_MODELS.items():
            for i, ev in enumerate(SEG_ATTACKS[:-1]):  # no Houdini on depth
                value = clean + i + seed / 10
                rows.append(trial_row(main, aux, seed, ev, "abs_err", value, **identity))
    return pd.DataFrame(rows)


def test_orders_flags_and_respects_directions():
    table = attack_table.reduce(single_task_attack_trials(), "cityscapes")
    assert list(dict.fromkeys(table["group_task"])) == [SEG, DEPTH]
    seg = table[table["group_task"] == SEG]
    depth = table[table["group_task"] == DEPTH]
    assert list(dict.fromkeys(seg["model"])) == ["s", "sd", "sA", "sdA"]
    assert list(dict.fromkeys(depth["model"])) == ["d", "ds", "dA", "dAs"]
    assert set(depth["eval"]) == set(SEG_ATTACKS[:-1])

    cell = one(table, group_task=SEG, eval="fgsm_eps4", model="sd")
    assert cell["value"] == pytest.approx(39.5) and cell["n_seeds"] == 2
    assert cell["value_std"] == pytest.approx(np.std([39, 40], ddof=1))
    assert cell["metric"] == "miou"
    # higher mIoU is better: sd best, sA underlined
    assert set(seg.loc[seg["best_in_row"], "model"]) == {"sd"}
    assert set(seg.loc[seg["worse_than_baseline"], "model"]) == {"sA"}
    # lower depth error is better: ds best, dA underlined
    best_depth = depth[depth["best_in_row"]]
    assert set(best_depth["model"]) == {"ds"} and len(best_depth) == 4
    assert set(depth.loc[depth["worse_than_baseline"], "model"]) == {"dA"}
    assert not table.loc[table["is_baseline"], "worse_than_baseline"].any()
    assert set(table.loc[table["is_baseline"], "model"]) == {"s", "d"}


def test_each_architecture_is_compared_with_its_own_baseline():
    good = single_task_attack_trials(arch="drn")
    # the other architecture's baseline is far better than all of drn's multitask models
    strong = single_task_attack_trials(arch="resnet18")
    strong = strong[strong["aux_tasks"] == ""].assign(value=lambda t: t["value"] * 100)
    table = attack_table.reduce(pd.concat([good, strong]), "cityscapes")
    drn = table[(table["arch"] == "drn") & (table["group_task"] == SEG)]
    assert set(drn.loc[drn["worse_than_baseline"], "model"]) == {"sA"}  # only s is ambiguous
    assert set(drn.loc[drn["is_baseline"], "model"]) == {"s [drn]"}


def test_markdown_like_the_paper():
    text = attack_table.markdown(attack_table.reduce(single_task_attack_trials(), "cityscapes"))
    seg_part, depth_part = text.split("### ")[1:]
    assert seg_part.startswith("segment_semantic: miou ↑ (baseline s)")
    assert "| eval | s | sd | sA | sdA |" in seg_part
    assert "| clean | 48.5 | **49.5** | <u>47.5</u> | 49 |" in seg_part
    assert depth_part.startswith("depth: abs_err ↓ (baseline d)")
    assert "| clean | 1.85 | **1.75** | <u>1.95</u> | 1.8 |" in depth_part
    assert "| houdini100_eps4 | - | - | - | - |" in depth_part
    rows = [line.split(" |")[0] for line in depth_part.splitlines() if line.startswith("| ")]
    assert rows[2:] == [f"| {e}" for e in SEG_ATTACKS]


def test_latex_booktabs_with_the_same_marks():
    text = attack_table.latex(attack_table.reduce(single_task_attack_trials(), "cityscapes"))
    seg, depth = text.split("% ")[1:]
    assert seg.startswith(r"segment\_semantic: miou $\uparrow$")
    assert r"\begin{tabular}{lrrrr}" in seg and r"\toprule" in seg and r"\bottomrule" in seg
    assert r"clean & 48.5 & \textbf{49.5} & \underline{47.5} & 49 \\" in seg
    assert r"houdini100\_eps4 & - & - & - & - \\" in depth
    assert seg.count(r"\\") == 1 + len(SEG_ATTACKS)


def test_multitask_models_join_every_group_they_trained():
    rows = []
    for main, (seg, depth) in {
        SEG: (44.0, None),
        DEPTH: (None, 1.8),
        f"{SEG}+{DEPTH}": (46.0, 1.7),
        f"{SEG}+{DEPTH}+{AE}": (45.0, 1.9),
    }.items():
        for ev, drop in (("clean", 0.0), ("pgd10_eps4_mt", 1.0)):
            if seg is not None:
                rows.append(trial_row(main, "", 0, ev, "miou", seg - 30 * drop, SEG))
            if depth is not None:
                rows.append(trial_row(main, "", 0, ev, "abs_err", depth + 5 * drop, DEPTH))
    rows.append(trial_row(f"{SEG}+{DEPTH}+{AE}", "", 0, "clean", "l1", 2.0, AE))
    table = attack_table.reduce(pd.DataFrame(rows), "cityscapes")
    depth = table[table["group_task"] == DEPTH]
    assert list(dict.fromkeys(depth["model"])) == ["d", "sd", "sdA"]
    assert one(depth, eval="pgd10_eps4_mt", model="sd")["value"] == pytest.approx(6.7)
    assert one(depth, eval="clean", model="sdA")["worse_than_baseline"]
    # the autoencoder is only ever trained alongside: its group has no baseline to beat
    autoencoder = table[table["group_task"] == AE]
    assert not autoencoder["is_baseline"].any() and not autoencoder["worse_than_baseline"].any()
    assert "autoencoder: l1 ↓ (no single-task baseline)" in attack_table.markdown(table)


def test_picture_text_files_and_reduce_to(tmp_path):
    trials = single_task_attack_trials()
    paths, summary = reduce_to(
        trials, "attack_table", "cityscapes", tmp_path / "attack_table.parquet", tmp_path / "out"
    )
    assert sorted(p.name for p in paths) == [
        "attack_table.md",
        "attack_table.parquet",
        "attack_table.png",
        "attack_table.tex",
    ]
    assert is_picture(tmp_path / "out/attack_table.png")
    assert "<u>" in (tmp_path / "out/attack_table.md").read_text()
    # attacked cells: seg 3 models x 4 attacks, depth 3 x 3; sA and dA lose every one
    assert summary == "multitask models beat the baseline in 14 of 21 attacked cells"


def test_bad_tables_raise_reduce_error():
    trials = single_task_attack_trials()
    with pytest.raises(ReduceError, match="lacks column.*metric"):
        attack_table.reduce(trials.drop(columns="metric"), "cityscapes")
    with pytest.raises(ReduceError, match="has no"):
        attack_table.reduce(trials.assign(eval="something_else"), "cityscapes")
    trials.loc[0, "main_task"] = "bogus"
    with pytest.raises(ReduceError, match="bogus"):
        attack_table.reduce(trials, "cityscapes")
