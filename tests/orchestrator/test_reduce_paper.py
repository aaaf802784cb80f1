"""The reductions of Fig. 4, Fig. 5 and Tables 1-3 on hand-built trials tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from orchestrator.plots_paper import (
    REDUCTIONS,
    attack_table_markdown,
    plot_attack_table,
    plot_fig4c,
    plot_fig5,
    plot_output_dim,
)
from orchestrator.reduce import ReduceError
from orchestrator.reduce_paper import (
    eval_eps,
    eval_order,
    model_label,
    multitask_attack_summary,
    nested_chain,
    reduce_attack_table,
    reduce_multitask_attack,
    reduce_output_dim,
)

SEG, DEPTH_Z, NORMAL = "segment_semantic", "depth_zbuffer", "normal"


def _table(rows: list[tuple]) -> pd.DataFrame:
    """Trials rows from (main_task, aux_tasks, seed, eval, task, metric, value)."""
    frame = pd.DataFrame(
        rows, columns=["main_task", "aux_tasks", "seed", "eval", "task", "metric", "value"]
    )
    frame.insert(
        0,
        "trial_key",
        frame["main_task"] + "|" + frame["aux_tasks"] + "|" + frame["seed"].astype(str),
    )
    return frame


def _one(table: pd.DataFrame, **where) -> pd.Series:
    mask = np.ones(len(table), dtype=bool)
    for column, value in where.items():
        mask &= table[column] == value
    assert mask.sum() == 1, (where, table[mask])
    return table[mask].iloc[0]


def _is_png(path, min_bytes: int = 5000) -> bool:
    with Image.open(path) as img:
        return img.format == "PNG" and path.stat().st_size > min_bytes and min(img.size) > 100


# --------------------------------------------------------------------------- names


def test_eps_and_order_parsed_from_eval_names():
    assert eval_eps("clean") == 0
    assert eval_eps("pgd5_eps4_mt") == 4
    assert eval_eps("pgd20_eps16_mt") == 16
    assert math.isnan(eval_eps("vulnerability"))
    names = [
        "houdini100_eps4",
        "pgd100_eps4",
        "mim100_eps4",
        "pgd10_eps4",
        "clean",
        "fgsm_eps4",
        "pgd20_eps4",
    ]
    assert sorted(names, key=eval_order) == [
        "clean",
        "fgsm_eps4",
        "pgd10_eps4",
        "pgd20_eps4",
        "pgd100_eps4",
        "mim100_eps4",
        "houdini100_eps4",
    ]


def test_model_labels_put_main_tasks_first_then_aux_in_given_order():
    assert model_label("cityscapes", "segment_semantic", "depth+autoencoder") == "sdA"
    assert model_label("cityscapes", "depth", "autoencoder+segment_semantic") == "dAs"
    assert model_label("taskonomy", "segment_semantic+depth_zbuffer+normal", "") == "sdn"


# --------------------------------------------------------------------------- Fig. 5 / 4c


def _multitask_trials() -> pd.DataFrame:
    rows = []
    models = {"s": [SEG], "sd": [SEG, DEPTH_Z], "sdn": [SEG, DEPTH_Z, NORMAL]}
    for label, tasks in models.items():
        main = "+".join(tasks)
        for seed in (0, 1):
            for ev, eps in (("clean", 0), ("pgd5_eps1_mt", 1), ("pgd8_eps4_mt", 4)):
                for i, task in enumerate(tasks):
                    metric = "miou" if task == SEG else "l1"
                    value = 50 - 5 * eps + len(tasks) + i + seed * 2
                    rows.append((main, "", seed, ev, task, metric, value))
                    if task != SEG:
                        rows.append((main, "", seed, ev, task, "rmse", 99.0))  # not primary
            rows.append((main, "", seed, "pgd50_eps4", SEG, "miou", -1.0))  # single-task attack
            norm = {"s": 0.8, "sd": 0.6, "sdn": 0.5}[label] + 0.1 * seed
            rows.append((main, "", seed, "vulnerability", "joint", "grad_norm", norm))
            rows.append((main, "", seed, "vulnerability", SEG, "grad_norm", 7.0))
    return _table(rows)


def test_multitask_attack_averages_seeds_and_keeps_primary_metrics_of_trained_tasks():
    table = reduce_multitask_attack(_multitask_trials(), "taskonomy")
    row = _one(table, model="sd", eval="pgd8_eps4_mt", task=DEPTH_Z)
    # seeds 0 and 1: 50 - 20 + 2 + 1 = 33 and 35
    assert row["value"] == pytest.approx(34.0)
    assert row["value_std"] == pytest.approx(1.0)
    assert row["n_seeds"] == 2 and row["metric"] == "l1" and not row["higher_is_better"]
    assert row["eps"] == 4
    assert _one(table, model="s", eval="clean", task=SEG)["higher_is_better"]
    assert _one(table, model="s", eval="clean", task=SEG)["eps"] == 0
    assert set(table["eval"]) == {"clean", "pgd5_eps1_mt", "pgd8_eps4_mt", "vulnerability"}
    assert set(table["metric"]) == {"miou", "l1", "grad_norm"}
    assert not ((table["model"] == "s") & (table["task"] == DEPTH_Z)).any()
    # 3 models x 3 evals x their tasks (1 + 2 + 3) + one norm per model
    assert len(table) == 3 * 6 + 3
    norms = table[table["task"] == "joint"]
    assert list(norms["model"]) == ["s", "sd", "sdn"]
    assert norms["value"].tolist() == pytest.approx([0.85, 0.65, 0.55])
    assert norms["eps"].isna().all()


def test_multitask_attack_pictures_and_dispatch(tmp_path):
    trials = _multitask_trials()
    table = reduce_multitask_attack(trials, "taskonomy")
    fig5 = plot_fig5(table, tmp_path / "a")
    assert [p.name for p in fig5] == ["fig5.png"] and _is_png(fig5[0])
    assert _is_png(plot_fig4c(table, tmp_path / "a"))

    paths, summary = REDUCTIONS["multitask_attack"](
        trials, "taskonomy", tmp_path / "b/multitask_attack.parquet", tmp_path / "b"
    )
    assert sorted(p.name for p in paths) == ["fig4c.png", "fig5.png", "multitask_attack.parquet"]
    assert all(p.exists() for p in paths)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "b/multitask_attack.parquet"), table)
    assert summary == "joint-gradient norm s→sd→sdn: 0.85 → 0.55 (falls at 2 of 2 added tasks)"


def test_the_summary_follows_the_nested_models_not_the_single_task_ones():
    assert nested_chain(["s", "d", "n", "sd", "sdn", "k"]) == ["s", "sd", "sdn"]
    trials = _multitask_trials()
    extra = _table([("depth_zbuffer", "", 0, "vulnerability", "joint", "grad_norm", 0.01)])
    summary = multitask_attack_summary(
        reduce_multitask_attack(pd.concat([trials, extra]), "taskonomy")
    )
    assert summary.startswith("joint-gradient norm s→sd→sdn: 0.85 → 0.55")


def test_without_norms_fig4c_is_skipped(tmp_path):
    trials = _multitask_trials()
    trials = trials[trials["eval"] != "vulnerability"]
    with pytest.raises(ReduceError, match="joint-gradient norm"):
        plot_fig4c(reduce_multitask_attack(trials, "taskonomy"), tmp_path)
    paths, summary = REDUCTIONS["multitask_attack"](
        trials, "taskonomy", tmp_path / "multitask_attack.parquet", tmp_path
    )
    assert sorted(p.name for p in paths) == ["fig5.png", "multitask_attack.parquet"]
    assert summary == "3 models reduced; no joint-gradient norm was logged"


# --------------------------------------------------------------------------- Tables 1-3

CS_SEG, CS_DEPTH, CS_AE = "segment_semantic", "depth", "autoencoder"
SEG_ATTACKS = ("clean", "fgsm_eps4", "pgd10_eps4", "mim100_eps4", "houdini100_eps4")
# (main, aux) -> clean value; attacked cells add an offset per attack below
SEG_MODELS = {
    (CS_SEG, ""): 48.0,
    (CS_SEG, CS_DEPTH): 49.0,
    (CS_SEG, CS_AE): 47.0,
    (CS_SEG, f"{CS_DEPTH}+{CS_AE}"): 48.5,
}
DEPTH_MODELS = {
    (CS_DEPTH, ""): 1.8,
    (CS_DEPTH, CS_SEG): 1.7,
    (CS_DEPTH, CS_AE): 1.9,
    (CS_DEPTH, f"{CS_AE}+{CS_SEG}"): 1.75,
}


def _single_task_attack_trials() -> pd.DataFrame:
    rows = []
    for seed in (0, 1):
        for (main, aux), clean in SEG_MODELS.items():
            for i, ev in enumerate(SEG_ATTACKS):
                rows.append((main, aux, seed, ev, CS_SEG, "miou", clean - 10 * i + seed))
                rows.append((main, aux, seed, ev, CS_SEG, "pixel_acc", 90.0))
            if CS_DEPTH in aux:  # an auxiliary task's score: not part of any group
                rows.append((main, aux, seed, "clean", CS_DEPTH, "abs_err", 0.1))
        for (main, aux), clean in DEPTH_MODELS.items():
            for i, ev in enumerate(SEG_ATTACKS[:-1]):  # no Houdini on depth
                rows.append((main, aux, seed, ev, CS_DEPTH, "abs_err", clean + i + seed / 10))
    return _table(rows)


def test_attack_table_orders_flags_and_respects_directions():
    table = reduce_attack_table(_single_task_attack_trials(), "cityscapes")
    assert list(dict.fromkeys(table["group_task"])) == [CS_SEG, CS_DEPTH]
    seg = table[table["group_task"] == CS_SEG]
    depth = table[table["group_task"] == CS_DEPTH]
    assert list(dict.fromkeys(seg["model"])) == ["s", "sd", "sA", "sdA"]
    assert list(dict.fromkeys(depth["model"])) == ["d", "ds", "dA", "dAs"]
    assert set(depth["eval"]) == set(SEG_ATTACKS[:-1])

    cell = _one(table, group_task=CS_SEG, eval="fgsm_eps4", model="sd")
    assert cell["value"] == pytest.approx(39.5) and cell["n_seeds"] == 2
    assert cell["value_std"] == pytest.approx(0.5) and cell["metric"] == "miou"
    # higher mIoU is better: sd best, sA underlined
    assert table.loc[
        table["best_in_row"] & (table["group_task"] == CS_SEG), "model"
    ].unique().tolist() == ["sd"]
    assert set(seg.loc[seg["worse_than_baseline"], "model"]) == {"sA"}
    # lower depth error is better: ds best, dA underlined
    best_depth = depth[depth["best_in_row"]]
    assert set(best_depth["model"]) == {"ds"} and len(best_depth) == 4
    assert set(depth.loc[depth["worse_than_baseline"], "model"]) == {"dA"}
    assert not table.loc[table["is_baseline"], "worse_than_baseline"].any()
    assert set(table.loc[table["is_baseline"], "model"]) == {"s", "d"}


def test_attack_table_markdown_like_the_paper():
    text = attack_table_markdown(reduce_attack_table(_single_task_attack_trials(), "cityscapes"))
    seg_part, depth_part = text.split("### ")[1:]
    assert seg_part.startswith("segment_semantic: miou ↑ (baseline s)")
    assert "| eval | s | sd | sA | sdA |" in seg_part
    assert "| clean | 48.5 | **49.5** | <u>47.5</u> | 49 |" in seg_part
    assert depth_part.startswith("depth: abs_err ↓ (baseline d)")
    assert "| eval | d | ds | dA | dAs |" in depth_part
    assert "| clean | 1.85 | **1.75** | <u>1.95</u> | 1.8 |" in depth_part
    assert "| houdini100_eps4 | - | - | - | - |" in depth_part
    rows = [line.split(" |")[0] for line in depth_part.splitlines() if line.startswith("| ")]
    assert rows[2:] == [
        "| clean",
        "| fgsm_eps4",
        "| pgd10_eps4",
        "| mim100_eps4",
        "| houdini100_eps4",
    ]


def test_multitask_attack_table_puts_each_model_in_every_group_it_trained():
    rows = []
    for main, (seg, depth) in {
        CS_SEG: (44.0, None),
        CS_DEPTH: (None, 1.8),
        f"{CS_SEG}+{CS_DEPTH}": (46.0, 1.7),
        f"{CS_SEG}+{CS_DEPTH}+{CS_AE}": (45.0, 1.9),
    }.items():
        for ev, drop in (("clean", 0.0), ("pgd10_eps4_mt", 1.0)):
            if seg is not None:
                rows.append((main, "", 0, ev, CS_SEG, "miou", seg - 30 * drop))
            if depth is not None:
                rows.append((main, "", 0, ev, CS_DEPTH, "abs_err", depth + 5 * drop))
    table = reduce_attack_table(_table(rows), "cityscapes")
    depth = table[table["group_task"] == CS_DEPTH]
    assert list(dict.fromkeys(depth["model"])) == ["d", "sd", "sdA"]
    assert _one(depth, eval="pgd10_eps4_mt", model="sd")["value"] == pytest.approx(6.7)
    assert _one(depth, eval="clean", model="sdA")["worse_than_baseline"]
    assert list(dict.fromkeys(table.loc[table["group_task"] == CS_SEG, "model"])) == [
        "s",
        "sd",
        "sdA",
    ]
    # the autoencoder is only ever trained alongside: its group has no baseline to beat
    rows = [(f"{CS_SEG}+{CS_DEPTH}+{CS_AE}", "", 0, "clean", CS_AE, "l1", 2.0)]
    table = reduce_attack_table(pd.concat([_table(rows), table_rows_of_s()]), "cityscapes")
    autoencoder = table[table["group_task"] == CS_AE]
    assert not autoencoder["is_baseline"].any() and not autoencoder["worse_than_baseline"].any()
    assert "autoencoder: l1 ↓ (no single-task baseline)" in attack_table_markdown(table)


def table_rows_of_s() -> pd.DataFrame:
    return _table([(CS_SEG, "", 0, "clean", CS_SEG, "miou", 40.0)])


def test_attack_table_picture_and_dispatch(tmp_path):
    trials = _single_task_attack_trials()
    assert _is_png(plot_attack_table(reduce_attack_table(trials), tmp_path, "table2"))
    assert (tmp_path / "table2.png").exists()

    paths, summary = REDUCTIONS["attack_table"](
        trials, "cityscapes", tmp_path / "out/attack_table.parquet", tmp_path / "out"
    )
    assert sorted(p.name for p in paths) == [
        "attack_table.md",
        "attack_table.parquet",
        "attack_table.png",
    ]
    assert all(p.exists() for p in paths)
    assert "<u>" in (tmp_path / "out/attack_table.md").read_text()
    # attacked cells: seg 3 models x 4 attacks, depth 3 x 3; seg: sA loses every one,
    # depth: dA loses every one
    assert summary == "multitask models beat the baseline in 14 of 21 attacked cells"


# --------------------------------------------------------------------------- Fig. 4a-b


def _output_dim_trials() -> pd.DataFrame:
    rows = []
    for seed in (0, 1):
        for k in (16, 1, 4096, 4):  # out of order on purpose; "16" < "4" as strings
            rows.append(
                (CS_SEG, "", seed, f"outdim_k{k}", CS_SEG, "grad_norm", 10 / math.sqrt(k) + seed)
            )
            rows.append(
                (CS_SEG, "", seed, f"outdim_k{k}", CS_SEG, "fgsm_eps4_acc", 20 + math.log2(k))
            )
            rows.append(
                (CS_SEG, "", seed, f"outdim_k{k}", CS_SEG, "pgd5_eps4_acc", 5 + math.log2(k))
            )
        rows.append((CS_SEG, "", seed, "clean", CS_SEG, "miou", 40.0))
    return _table(rows)


def test_output_dim_sorted_by_k_with_seed_means():
    table = reduce_output_dim(_output_dim_trials(), "cityscapes")
    norms = table[table["metric"] == "grad_norm"]
    assert norms["k"].tolist() == [1, 4, 16, 4096]
    assert norms["value"].tolist() == pytest.approx([10.5, 5.5, 3.0, 10 / 64 + 0.5])
    assert (norms["n_seeds"] == 2).all()
    assert norms["value_std"].tolist() == pytest.approx([0.5] * 4)
    acc = table[table["metric"] == "fgsm_eps4_acc"]
    assert acc["value"].tolist() == pytest.approx([20, 22, 24, 32])
    assert set(table["metric"]) == {"grad_norm", "fgsm_eps4_acc", "pgd5_eps4_acc"}
    assert table["k"].is_monotonic_increasing


def test_output_dim_pictures_and_dispatch(tmp_path):
    trials = _output_dim_trials()
    pictures = plot_output_dim(reduce_output_dim(trials), tmp_path / "a")
    assert [p.name for p in pictures] == ["fig4a.png", "fig4b.png"]
    assert all(_is_png(p) for p in pictures)

    paths, summary = REDUCTIONS["output_dim"](
        trials, "cityscapes", tmp_path / "b/output_dim.parquet", tmp_path / "b"
    )
    assert sorted(p.name for p in paths) == ["fig4a.png", "fig4b.png", "output_dim.parquet"]
    assert all(p.exists() for p in paths)
    assert summary == "grad norm k=1→4096: 10.5 → 0.656"


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "reduce, make, dataset",
    [
        (reduce_multitask_attack, _multitask_trials, "taskonomy"),
        (reduce_attack_table, _single_task_attack_trials, "cityscapes"),
        (reduce_output_dim, _output_dim_trials, "cityscapes"),
    ],
)
def test_bad_tables_raise_reduce_error(reduce, make, dataset):
    trials = make()
    with pytest.raises(ReduceError, match="lacks column.*metric"):
        reduce(trials.drop(columns="metric"), dataset)
    with pytest.raises(ReduceError, match="empty"):
        reduce(trials.iloc[:0], dataset)
    with pytest.raises(ReduceError, match="has no"):
        reduce(trials.assign(eval="something_else"), dataset)


def test_unknown_task_raises_reduce_error():
    trials = _single_task_attack_trials()
    trials.loc[0, "main_task"] = "bogus"
    with pytest.raises(ReduceError, match="bogus"):
        reduce_attack_table(trials, "cityscapes")


def test_dispatch_writes_nothing_on_bad_input(tmp_path):
    with pytest.raises(ReduceError):
        REDUCTIONS["output_dim"](
            _single_task_attack_trials(), "cityscapes", tmp_path / "o/t.parquet", tmp_path / "o"
        )
    assert not (tmp_path / "o").exists()
