"""The built-in sweeps beyond Fig. 7 expand to the paper's experiments (experiments.md)."""

from __future__ import annotations

import math

import pytest

from attacks.eval_names import parse_eval
from sweeps.definition import builtin_names, load_sweep


def _sets(specs):
    return [tuple(s.train_tasks) for s in specs]


def test_every_paper_experiment_is_a_builtin_sweep():
    assert set(builtin_names()) == {
        "taskonomy-pairs",
        "taskonomy-multitask-attack",
        "cityscapes-single-task-attack",
        "cityscapes-multitask-attack",
        "cityscapes-adversarial-training",
        "output-dimensionality",
        "taskonomy-attack-strength",
    }


@pytest.mark.parametrize("preset", ["smoke", "paper"])
def test_taskonomy_multitask_attack_models_and_epsilons(preset):
    specs = load_sweep("taskonomy-multitask-attack").expand(preset, data_root="/data")
    letters = {
        "segment_semantic": "s",
        "depth_zbuffer": "d",
        "normal": "n",
        "keypoints2d": "k",
        "edge_texture": "e",
        "reshading": "r",
    }
    models = {"".join(letters[t] for t in s.train_tasks) for s in specs}
    assert models == {"s", "d", "n", "k", "e", "r", "sd", "sdn", "sdnk", "sdnke", "sdnker"}
    for s in specs:
        # equal weights, every trained task attacked together and reported
        assert list(s.weights.values()) == pytest.approx(
            [1 / len(s.train_tasks)] * len(s.train_tasks)
        )
        assert s.attacked == s.train_tasks and s.report == s.train_tasks
        assert "grad_norm" in s.measures
        attacked = [parse_eval(e) for e in s.evals if e != "clean"]
        assert "clean" in s.evals and all(e.multitask and e.attack == "pgd" for e in attacked)
        assert sorted(e.eps for e in attacked) == [1, 2, 4, 8, 16]
        for e in attacked:  # the paper's step rule
            assert e.steps == min(e.eps + 4, math.ceil(1.25 * e.eps))


def test_cityscapes_single_task_attack_is_table_2():
    specs = load_sweep("cityscapes-single-task-attack").expand("paper", data_root="/data")
    assert {s.arch for s in specs} == {"drn_d_22"}
    seg, dep = "segment_semantic", "depth"
    pairs = {(s.main_tasks, frozenset(s.aux_tasks)) for s in specs}
    assert pairs == {
        ((seg,), frozenset()),
        ((seg,), frozenset({dep})),
        ((seg,), frozenset({"autoencoder"})),
        ((seg,), frozenset({dep, "autoencoder"})),
        ((dep,), frozenset()),
        ((dep,), frozenset({seg})),
        ((dep,), frozenset({"autoencoder"})),
        ((dep,), frozenset({seg, "autoencoder"})),
    }
    for s in specs:
        assert s.attacked == s.main_tasks and s.adversarial is None
        expected = [
            "clean",
            "fgsm_eps4",
            "pgd10_eps4",
            "pgd20_eps4",
            "pgd50_eps4",
            "pgd100_eps4",
            "mim100_eps4",
        ]
        # Houdini is a surrogate of mIoU: only the segmentation models meet it
        expected += ["houdini100_eps4"] if s.main_tasks == (seg,) else []
        assert list(s.evals) == expected
        assert s.weights[s.main_tasks[0]] == 1.0
    # λ_a per model as the authors' evaluation scripts name them, shared out among the
    # auxiliary tasks as their training loop does (λ_a / #aux each).
    weights = {"".join(t[0] for t in s.train_tasks): s.weights for s in specs}
    assert weights["sd"]["depth"] == 0.001 and weights["sa"]["autoencoder"] == 0.1
    assert weights["sda"] == {seg: 1.0, dep: 0.0005, "autoencoder": 0.0005}
    assert weights["ds"][seg] == 0.1 and weights["da"]["autoencoder"] == 0.1
    assert weights["das"] == {dep: 1.0, "autoencoder": 0.005, seg: 0.005}
    assert all(s.data["crop"] == 256 and s.data["flip"] for s in specs)


def test_cityscapes_multitask_attack_is_table_1_on_drn105():
    specs = load_sweep("cityscapes-multitask-attack").expand("paper", data_root="/data")
    assert {s.arch for s in specs} == {"drn_d_105"}
    assert sorted(map(frozenset, _sets(specs)), key=len) == [
        frozenset({"segment_semantic"}),
        frozenset({"depth"}),
        frozenset({"segment_semantic", "depth"}),
        frozenset({"segment_semantic", "depth", "autoencoder"}),
    ]
    for s in specs:
        assert all(parse_eval(e).multitask for e in s.evals if e != "clean")
        assert list(s.weights.values()) == pytest.approx(
            [1 / len(s.train_tasks)] * len(s.train_tasks)
        )


def test_adversarial_training_trains_on_the_model_s_own_tasks():
    sweep = load_sweep("cityscapes-adversarial-training")
    table2 = load_sweep("cityscapes-single-task-attack").expand("paper", data_root="/data")
    specs = sweep.expand("paper", data_root="/data")
    assert sorted(_sets(specs)) == sorted(_sets(table2))  # Table 3 = Table 2's model set
    for s in specs:
        adv = parse_eval(s.adversarial["eval"])
        # multitask models are trained on a joint attack of all their tasks; a baseline's
        # "joint" attack is its single task
        assert adv.multitask and adv.attack == "pgd" and adv.eps == 4
    # the models differ from Table 2's: nothing is shared by accident
    assert not {s.model_key for s in specs} & {s.model_key for s in table2}


def test_output_dimensionality_is_one_segmentation_model_on_a_log_grid():
    paper = load_sweep("output-dimensionality").expand("paper", data_root="/data")
    assert len(paper) == 1
    spec = paper[0]
    assert spec.train_tasks == ("segment_semantic",) and "output_dim" in spec.measures
    cfg = spec.output_dim
    assert cfg["draws"] == 20
    ks = cfg["ks"]
    ratios = {b / a for a, b in zip(ks, ks[1:], strict=False)}
    assert len(ks) >= 6 and len(ratios) == 1  # evenly spaced in log k
    assert {parse_eval(a).attack for a in cfg["attacks"]} == {"fgsm", "pgd"}


@pytest.mark.parametrize("name", [n for n in builtin_names() if n != "taskonomy-pairs"])
def test_trials_with_one_model_are_distinct_models(name):
    """Each trial of these sweeps trains its own model: all its evaluations share it."""
    specs = load_sweep(name).expand("smoke")
    assert len({s.model_key for s in specs}) == len(specs)


@pytest.mark.parametrize("preset", ["smoke", "paper"])
@pytest.mark.parametrize("arch", [[], ["arch=resnet50"]])
def test_taskonomy_attack_strength_models_are_taskonomy_pairs_models(preset, arch):
    """The 5×5 subset's 25 models, each the very model (model key) taskonomy-pairs trains."""
    specs = load_sweep("taskonomy-attack-strength").expand(
        preset, data_root="/data", overrides=arch
    )
    pairs = load_sweep("taskonomy-pairs").expand(preset, data_root="/data", overrides=arch)
    by_model = {(s.main_tasks, s.aux_tasks): s for s in pairs}
    subset = {"segment_semantic", "depth_zbuffer", "depth_euclidean", "normal", "edge_occlusion"}
    assert len(specs) == 25 and {t for s in specs for t in s.train_tasks} == subset
    assert sum(1 for s in specs if s.aux_tasks) == 20
    for s in specs:
        twin = by_model[(s.main_tasks, s.aux_tasks)]
        assert s.model_key == twin.model_key and s.weights == twin.weights
        assert s.trial_key != twin.trial_key  # other evaluations: other trials, one model
        assert s.attacked == s.train_tasks and s.report == s.main_tasks
        assert "clean" in s.evals and s.measures == ("task_grad_l1",)


def test_single_task_evaluations_are_kept_for_the_main_task_when_all_tasks_are_attacked():
    """With ``attacked: all`` a single-task attack still hits the main task only, so a
    segmentation-only attack is kept for s+d and dropped for d+s."""
    specs = load_sweep("taskonomy-attack-strength").expand(
        "smoke", tasks=["s", "d"], overrides=["evals=[clean, houdini5_eps4, pgd5_eps4_mt]"]
    )
    evals = {(s.main_tasks[0], s.aux_tasks): s.evals for s in specs}
    assert evals[("segment_semantic", ("depth_zbuffer",))] == (
        "clean",
        "houdini5_eps4",
        "pgd5_eps4_mt",
    )
    assert evals[("depth_zbuffer", ("segment_semantic",))] == ("clean", "pgd5_eps4_mt")
