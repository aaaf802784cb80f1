"""``fidelity: authors`` replays the authors' attacks, bugs included: the fixed x+ε
"random start", the Cityscapes clamp in normalised space, MIM's raw-gradient momentum."""

from __future__ import annotations

import torch

from attacks import FGSM, MIM, PGD
from attacks.evaluation import evaluate
from attacks.replay import (
    AUTHORS_CITYSCAPES_MEAN,
    AUTHORS_CITYSCAPES_STD,
    CITYSCAPES_BOX,
    authors_attack,
)
from tests.attacks.tinymodels import DEPTH, SEG, TinyNet, make_batch

EPS = 4 / 255


def _image(values: list[float]) -> torch.Tensor:
    """One image, 3 channels, one pixel per value."""
    return torch.tensor(values).view(1, 1, 1, -1).expand(1, 3, 1, len(values)).contiguous()


def _flat(x: torch.Tensor) -> torch.Tensor:
    """Loss with zero gradient: a start is all the attack does."""
    return (x * 0).sum()


def _brighten(x: torch.Tensor) -> torch.Tensor:
    """Loss whose gradient asks every pixel to brighten."""
    return x.sum()


def test_the_authors_random_start_is_the_fixed_corner_x_plus_eps():
    x = _image([0.2, 0.5, 0.999])
    paper = PGD(EPS, 1 / 255, 3)
    authors = authors_attack(paper, "taskonomy")
    g = [torch.Generator().manual_seed(s) for s in (0, 1)]
    assert not torch.equal(paper(x, _flat, g[0]), paper(x, _flat, g[1]))  # Madry: random
    expected = torch.clamp(x + EPS, max=1.0)  # min(1, x + ε), whatever the seed
    assert torch.allclose(authors(x, _flat, g[0]), expected)
    assert torch.allclose(authors(x, _flat, g[1]), expected)
    assert paper.box is None and authors.box is not None  # the original is untouched


def test_the_cityscapes_clamp_moves_pixels_outside_mean_plus_minus_std_whatever_eps():
    x = _image([0.0, 0.30, 0.90])  # dark, mid-tone, bright
    paper = PGD(EPS, 1 / 255, 10)(x, _brighten, torch.Generator().manual_seed(0))
    authors = authors_attack(PGD(EPS, 1 / 255, 10), "cityscapes")(x, _brighten)
    assert (paper - x).abs().max() <= EPS + 1e-6 and torch.allclose(paper, x + EPS)
    mean = torch.tensor(AUTHORS_CITYSCAPES_MEAN)
    std = torch.tensor(AUTHORS_CITYSCAPES_STD)
    reach = 2 * EPS * std  # ε = 2·4/255 in normalised units: ≈ 1.5/255 in pixels
    dark, mid, bright = authors[0, :, 0, 0], authors[0, :, 0, 1], authors[0, :, 0, 2]
    assert torch.allclose(dark, mean - std)  # lifted to the band's edge: ≫ ε
    assert (dark - 0.0 > 20 / 255).all()
    assert torch.allclose(mid, 0.30 + reach)  # a real, smaller-than-ε attack
    assert torch.allclose(bright, 0.90 - reach)  # pinned at x − ε although asked to brighten


def test_the_authors_mim_accumulates_raw_gradients_at_decay_one_half():
    grads = [torch.tensor([[100.0, -1.0]]), torch.tensor([[-60.0, 2.0]])]
    paper, authors = MIM(EPS, 1 / 255, 2).step_rule(), None
    authors = authors_attack(MIM(EPS, 1 / 255, 2), "taskonomy").step_rule()
    for g in grads[:1]:
        paper(g), authors(g)
    # paper: g/mean|g| summed at decay 1 → (+, +); authors: 0.5·g1 + g2 = (−10, 1.5) → (−, +)
    assert paper(grads[1]).tolist() == [[1.0, 1.0]]
    assert authors(grads[1]).tolist() == [[-1.0, 1.0]]


def test_fgsm_keeps_no_start_but_the_authors_step_and_band():
    x = _image([0.30])
    out = authors_attack(FGSM(EPS), "cityscapes")(x, _brighten)
    assert torch.allclose(out[0, :, 0, 0], 0.30 + 2 * EPS * torch.tensor(AUTHORS_CITYSCAPES_STD))


def _first_attacked(replay: str | None) -> torch.Tensor:
    evaluation = evaluate(
        TinyNet().eval(),
        [make_batch(2, seed=5)],
        tasks=[SEG, DEPTH],
        evals=["pgd3_eps8"],
        attacked=[SEG],
        report=[SEG],
        device="cpu",
        seed=0,
        replay=replay,
    )
    return evaluation.first_images["pgd3_eps8"]


def test_evaluate_runs_the_authors_attack_when_replaying():
    x = make_batch(2, seed=5)["image"][:1]
    lower, upper = CITYSCAPES_BOX.bounds(x, 8 / 255)

    def inside(a: torch.Tensor) -> bool:
        return bool(((a >= lower - 1e-6) & (a <= upper.maximum(lower) + 1e-6)).all())

    assert inside(_first_attacked("cityscapes"))
    assert not inside(_first_attacked(None))  # Madry's ball reaches 8/255, beyond the band
