"""The attacks themselves: the eps-ball, textbook updates, and that they actually attack."""

from __future__ import annotations

import pytest
import torch

from attacks import APGD, FGSM, MIM, PGD, CosPGD, Houdini, SegPGD
from attacks.objectives import task_objective
from tests.attacks.tinymodels import SEG, TinyNet, make_batch

EPS = 8 / 255
STEP = 2 / 255


def seg_objective(model, batch):
    return task_objective(model, SEG, batch["targets"][SEG.name], batch["masks"][SEG.name])


def all_attacks(steps: int = 5):
    return [
        FGSM(EPS),
        PGD(EPS, STEP, steps),
        PGD(EPS, STEP, steps, random_start=False),
        MIM(EPS, STEP, steps),
        MIM(EPS, STEP, steps, decay=0.5, random_start=True),
        Houdini(EPS, STEP, steps),
        SegPGD(EPS, STEP, steps),
        CosPGD(EPS, STEP, steps),
        APGD(EPS, steps),
    ]


def input_grad(loss_fn, x):
    x = x.detach().clone().requires_grad_(True)
    loss_fn(x).backward()
    return x.grad


@pytest.mark.parametrize("attack", all_attacks(), ids=repr)
@pytest.mark.parametrize("level", ["random", "near0", "near1"])
def test_stays_in_eps_ball_and_image_range(random_net, attack, level):
    batch = make_batch(3, seed=5)
    x = batch["image"]
    if level == "near0":
        x = x * 0.01
    elif level == "near1":
        x = 1 - x * 0.01
    x_adv = attack(x, seg_objective(random_net, batch))
    assert x_adv.shape == x.shape and not x_adv.requires_grad
    assert (x_adv - x).abs().max() <= EPS + 1e-6
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    assert (x_adv != x).any()


def test_fgsm_is_one_signed_step_of_size_eps(random_net):
    batch = make_batch(2, seed=1)
    x, loss_fn = batch["image"], seg_objective(random_net, batch)
    expected = (x + EPS * input_grad(loss_fn, x).sign()).clamp(0, 1)
    assert torch.allclose(FGSM(EPS)(x, loss_fn), expected, atol=1e-7)


def test_pgd_without_random_start_matches_a_reference_loop(random_net):
    batch = make_batch(2, seed=2)
    x, loss_fn = batch["image"], seg_objective(random_net, batch)
    ref = x.clone()
    for _ in range(6):
        ref = ref + STEP * input_grad(loss_fn, ref).sign()
        ref = torch.max(torch.min(ref, x + EPS), x - EPS).clamp(0, 1)
    got = PGD(EPS, STEP, 6, random_start=False)(x, loss_fn)
    assert torch.allclose(got, ref, atol=1e-6)


def test_mim_matches_dong_et_al(random_net):
    batch = make_batch(2, seed=3)
    x, loss_fn = batch["image"], seg_objective(random_net, batch)
    ref, g = x.clone(), torch.zeros_like(x)
    for _ in range(6):
        grad = input_grad(loss_fn, ref)
        l1_mean = grad.abs().mean(dim=(1, 2, 3), keepdim=True)
        g = 0.7 * g + grad / l1_mean
        ref = ref + STEP * g.sign()
        ref = torch.max(torch.min(ref, x + EPS), x - EPS).clamp(0, 1)
    got = MIM(EPS, STEP, 6, decay=0.7)(x, loss_fn)
    assert torch.allclose(got, ref, atol=1e-6)


def test_random_start_is_seeded_uniform_and_inside_the_ball():
    x = torch.full((2, 3, 16, 16), 0.5)

    def flat(z):  # zero gradient: sign(0) = 0, so only the random start moves x
        return (0 * z).sum()

    attack = PGD(EPS, STEP, 1)
    a = attack(x, flat, torch.Generator().manual_seed(0))
    b = attack(x, flat, torch.Generator().manual_seed(0))
    c = attack(x, flat, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    delta = (a - x) / EPS
    assert delta.abs().max() <= 1 + 1e-5
    assert abs(delta.mean()) < 0.05 and abs(delta.std() - 3**-0.5) < 0.05


def test_attacks_raise_the_loss_and_pgd_beats_fgsm(trained_net):
    batch = make_batch(6, seed=11)
    x, loss_fn = batch["image"], seg_objective(trained_net, batch)
    with torch.no_grad():
        clean = loss_fn(x).item()
    losses = {}
    for attack in all_attacks(steps=10):
        with torch.no_grad():
            losses[repr(attack)] = loss_fn(attack(x, loss_fn, torch.Generator().manual_seed(0)))
    assert all(v > clean * 1.5 for v in losses.values()), (clean, losses)
    pgd = [v for k, v in losses.items() if k.startswith("PGD")]
    assert min(pgd) >= losses[repr(FGSM(EPS))]


def test_attacks_leave_parameters_and_mode_alone():
    model = TinyNet().eval()
    batch = make_batch(2)
    before = [p.detach().clone() for p in model.parameters()]
    PGD(EPS, STEP, 3)(batch["image"], seg_objective(model, batch))
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert not model.training


def test_attacks_work_under_no_grad(random_net):
    batch = make_batch(2)
    with torch.no_grad():
        x_adv = PGD(EPS, STEP, 2)(batch["image"], seg_objective(random_net, batch))
    assert (x_adv != batch["image"]).any()


@pytest.mark.parametrize(
    "make", [lambda: PGD(-1.0, STEP, 3), lambda: PGD(EPS, 0.0, 3), lambda: MIM(EPS, STEP, 0)]
)
def test_bad_parameters_are_refused(make):
    with pytest.raises(ValueError):
        make()
