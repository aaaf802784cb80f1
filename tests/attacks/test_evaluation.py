"""evaluate(): nested results, attacks that hurt, determinism, refusals."""

from __future__ import annotations

import pytest

from attacks.evaluation import evaluate
from mtsweep.errors import MtsweepError
from tests.attacks.tinymodels import DEPTH, SEG, TinyNet, make_batch

EVALS = ["clean", "fgsm_eps8", "pgd5_eps8", "mim5_eps8", "houdini5_eps8", "pgd5_eps8_mt"]


def batches():
    return [make_batch(4, seed=100 + i) for i in range(2)]


def run(model, evals=EVALS, attacked=(SEG, DEPTH), report=(SEG, DEPTH), seed=0):
    return evaluate(
        model,
        batches(),
        tasks=[SEG, DEPTH],
        evals=evals,
        attacked=list(attacked),
        report=list(report),
        device="cpu",
        seed=seed,
    ).metrics


def test_nested_results_and_attacks_hurt(trained_net):
    res = run(trained_net)
    assert list(res) == EVALS
    for per_task in res.values():
        assert set(per_task) == {SEG.name, DEPTH.name}
        assert set(per_task[SEG.name]) == {"miou", "pixel_acc"}
        assert set(per_task[DEPTH.name]) == {"abs_err", "rel_err", "rmse"}
    clean = res["clean"][SEG.name]["miou"]
    assert clean > 60
    for name in EVALS[1:5]:  # single-task attacks on segmentation
        assert res[name][SEG.name]["miou"] < clean - 10, name
    # the joint attack hurts depth, which the single-task ones leave nearly alone
    assert res["pgd5_eps8_mt"][DEPTH.name]["abs_err"] > res["pgd5_eps8"][DEPTH.name]["abs_err"]


def test_deterministic_for_a_seed_and_independent_of_other_evals(trained_net):
    a = run(trained_net, ["clean", "pgd5_eps8"], seed=3)
    b = run(trained_net, ["pgd5_eps8"], seed=3)
    c = run(trained_net, ["pgd5_eps8"], seed=4)
    assert a["pgd5_eps8"] == b["pgd5_eps8"]
    assert c["pgd5_eps8"] != b["pgd5_eps8"]


def test_reports_only_the_asked_tasks_and_restores_the_mode():
    model = TinyNet().train()
    res = run(model, ["clean", "fgsm_eps4"], attacked=[DEPTH], report=[DEPTH])
    assert set(res["fgsm_eps4"]) == {DEPTH.name}
    assert model.training


def test_houdini_on_a_regression_task_is_refused(random_net):
    with pytest.raises(MtsweepError, match="houdini5_eps4.*depth"):
        run(random_net, ["houdini5_eps4"], attacked=[DEPTH])


def test_bad_names_and_unknown_tasks_are_refused(random_net):
    with pytest.raises(ValueError, match="pgd"):
        run(random_net, ["pgd_eps4"])
    with pytest.raises(ValueError, match="not among"):
        evaluate(
            random_net,
            batches(),
            tasks=[DEPTH],
            evals=["clean"],
            attacked=[SEG],
            report=[SEG],
            device="cpu",
            seed=0,
        )


def test_first_images_are_what_each_evaluation_saw(trained_net):
    evals = ["clean", "fgsm_eps8", "pgd5_eps8"]
    seen = evaluate(
        trained_net,
        batches(),
        tasks=[SEG, DEPTH],
        evals=evals,
        attacked=[SEG],
        report=[SEG],
        device="cpu",
        seed=0,
    ).first_images
    x = batches()[0]["image"][:1]
    assert set(seen) == set(evals)
    assert (seen["clean"] == x).all()
    for image in seen.values():  # one image of its own, not a view that keeps the batch alive
        assert image.shape == x.shape and image.untyped_storage().nbytes() == image.nbytes
    for name in evals[1:]:
        delta = (seen[name] - x).abs()
        assert delta.max() <= 8 / 255 + 1e-6 and delta.max() > 4 / 255  # attacked, in the ball
        assert 0 <= seen[name].min() and seen[name].max() <= 1


def test_new_families_and_combiners_run_and_hurt(trained_net):
    evals = [
        "clean",
        "segpgd5_eps8",
        "cospgd5_eps8",
        "apgd5_eps8",
        "pgd5_eps8_mt_dgba",
        "pgd5_eps8_mt_w0.1",
    ]
    res = run(trained_net, evals)
    clean = res["clean"][SEG.name]["miou"]
    for name in evals[1:]:
        assert res[name][SEG.name]["miou"] < clean - 10, name
    assert res["pgd5_eps8_mt_dgba"] != res["pgd5_eps8_mt_w0.1"]


def test_segpgd_on_a_regression_task_is_refused_by_name(random_net):
    with pytest.raises(MtsweepError, match="segpgd5_eps4.*depth \\(regression\\)"):
        run(random_net, ["segpgd5_eps4"], attacked=[DEPTH])
    with pytest.raises(MtsweepError, match="worst_pgd5_eps4-segpgd5_eps4.*depth"):
        run(random_net, ["worst_pgd5_eps4-segpgd5_eps4"], attacked=[DEPTH])
