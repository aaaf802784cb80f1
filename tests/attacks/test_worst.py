"""The worst case over attacks: never better than any member, image by image, at no extra cost."""

from __future__ import annotations

import torch

from attacks import FGSM, PGD, SegPGD
from attacks.evaluation import eval_generator, evaluate
from attacks.objectives import task_objective
from attacks.worst import per_image_metric, worst_choice, worst_of
from tests.attacks.tinymodels import DEPTH, SEG, make_batch

EPS, STEP = 8 / 255, 1 / 255


def members(model, batch, task, attacks):
    objective = task_objective(model, task, batch["targets"][task.name], batch["masks"][task.name])
    out = []
    for seed, attack in enumerate(attacks):
        x = attack(batch["image"], objective, torch.Generator().manual_seed(seed))
        with torch.no_grad():
            out.append((x, model(x)))
    return out


def test_worst_is_never_better_than_any_member_image_by_image(trained_net):
    batch = make_batch(6, seed=61)
    for task, attacks in (
        (SEG, [FGSM(EPS), PGD(EPS, STEP, 3), SegPGD(EPS, STEP, 3)]),
        (DEPTH, [FGSM(EPS), PGD(EPS, STEP, 3)]),
    ):
        target, mask = batch["targets"][task.name], batch["masks"][task.name]
        runs = members(trained_net, batch, task, attacks)
        x, outputs = worst_of(runs, task, target, mask)
        worst = per_image_metric(task, outputs[task.name], target, mask)
        sign = 1 if task.higher_is_better[task.primary_metric] else -1
        scores = [per_image_metric(task, out[task.name], target, mask) for _, out in runs]
        for member in scores:
            assert all(sign * w <= sign * m for w, m in zip(worst, member, strict=True))
        # … and as bad as the worst member on every image, not merely no better
        assert worst == [sign * min(sign * m for m in per) for per in zip(*scores, strict=True)]
        with torch.no_grad():  # the chosen images are the ones scored
            assert torch.equal(trained_net(x)[task.name], outputs[task.name])


def test_worst_choice_breaks_ties_and_undefined_images_to_the_first_member():
    assert worst_choice([[0.5, 0.2, float("nan")], [0.5, 0.3, float("nan")]], True) == [0, 0, 0]
    assert worst_choice([[0.5, 0.2], [0.7, 0.1]], False) == [1, 0]


def test_a_worst_evaluation_runs_its_members_once_and_as_they_run_alone(trained_net):
    batches = [make_batch(4, seed=70)]
    worst = "worst_fgsm_eps8-pgd3_eps8-segpgd3_eps8"
    evals = ["pgd3_eps8", worst]

    def run(evals: list[str], attacked: list) -> dict:
        return evaluate(
            trained_net,
            batches,
            tasks=[SEG, DEPTH],
            evals=evals,
            attacked=attacked,
            report=attacked,
            device="cpu",
            seed=2,
        ).metrics

    together = run(evals, [SEG, DEPTH])
    alone = run([worst], [SEG, DEPTH])
    members_alone = run(["fgsm_eps8", "pgd3_eps8", "segpgd3_eps8"], [SEG])
    assert together[worst] == alone[worst]
    assert together["pgd3_eps8"][SEG.name] == members_alone["pgd3_eps8"][SEG.name]
    assert alone[worst][SEG.name]["miou"] <= min(
        m[SEG.name]["miou"] for m in members_alone.values()
    )
    assert eval_generator(2, "pgd3_eps8").initial_seed() != eval_generator(2, worst).initial_seed()
