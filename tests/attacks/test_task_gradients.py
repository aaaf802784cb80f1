"""The per-task input-gradient measure: E‖∇ₓL_t‖₁, clean and where an attack ends."""

from __future__ import annotations

import pytest
import torch

from attacks import PGD
from attacks.evaluation import eval_generator
from attacks.measures import MEASURES
from attacks.objectives import task_objective
from sweeps.presets import parse_block
from tests.attacks.tinymodels import DEPTH, SEG, make_batch


def l1_by_hand(model, batch, task, x):
    x = x.clone().requires_grad_(True)
    out = model(x)
    task.loss(
        out[task.name], batch["targets"][task.name], batch["masks"][task.name]
    ).sum().backward()
    return x.grad.abs().sum(dim=(1, 2, 3))


def test_task_gradient_norms_clean_and_attacked(trained_net):
    batches = [make_batch(3, seed=80 + i) for i in range(2)]
    measure = MEASURES["task_grad_l1"]
    settings = measure.settings(attacks=("pgd3_eps8",))
    got = measure.compute(trained_net, lambda: batches, [SEG, DEPTH], [SEG], settings, 4)
    assert set(got) == {
        f"task_grad_l1/{t.name}/{at}" for t in (SEG, DEPTH) for at in ("clean", "pgd3_eps8")
    }
    generator = eval_generator(4, "pgd3_eps8")  # the point the evaluation pgd3_eps8 reaches
    want: dict[str, list] = {}
    for batch in batches:
        seg = task_objective(trained_net, SEG, batch["targets"][SEG.name], batch["masks"][SEG.name])
        x_adv = PGD(8 / 255, 1 / 255, 3)(batch["image"], seg, generator)
        for task in (SEG, DEPTH):
            for at, x in (("clean", batch["image"]), ("pgd3_eps8", x_adv)):
                want.setdefault(f"task_grad_l1/{task.name}/{at}", []).append(
                    l1_by_hand(trained_net, batch, task, x)
                )
    for name, values in want.items():
        assert got[name] == pytest.approx(torch.cat(values).mean().item(), rel=1e-5), name
    assert got[f"task_grad_l1/{SEG.name}/pgd3_eps8"] != got[f"task_grad_l1/{SEG.name}/clean"]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"draws": 3}, "unknown key"),
        ({"attacks": ["clean"]}, "not one attack"),
        ({"attacks": ["worst_pgd3_eps4-fgsm_eps4"]}, "not one attack"),
        ({"attacks": ["pgd"]}, "malformed"),
    ],
)
def test_bad_settings_are_refused_with_their_dotted_path(raw, says):
    with pytest.raises(ValueError, match=f"measures.task_grad_l1.*{says}"):
        parse_block(MEASURES["task_grad_l1"].settings, raw, "measures.task_grad_l1")
