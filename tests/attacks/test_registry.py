"""The attack registry: a class that sets ``name`` registers itself; a module is picked up."""

from __future__ import annotations

import pytest
import torch

import attacks
from attacks import base
from attacks.base import Attack, attack_classes
from attacks.eval_names import attack_order, build_attack, eval_name, parse_eval
from tasks.errors import MtsweepError


@pytest.fixture
def scratch_registry():
    """Whatever a test registers is forgotten afterwards."""
    saved = dict(base._REGISTERED)
    yield
    base._REGISTERED.clear()
    base._REGISTERED.update(saved)
    base._ORDERED.clear()


FAMILIES = ("fgsm", "pgd", "mim", "houdini", "segpgd", "cospgd", "apgd")


def test_the_papers_families_come_in_table_row_order_then_the_later_ones():
    assert attack_classes()[:4] == (attacks.FGSM, attacks.PGD, attacks.MIM, attacks.Houdini)
    assert attack_classes()[4:] == (attacks.SegPGD, attacks.CosPGD, attacks.APGD)
    assert [a.order for a in attack_classes()] == [1, 2, 3, 4, 5, 6, 7]
    assert attacks.ATTACKS == attack_classes()
    assert attacks.ATTACK_NAMES == FAMILIES


def test_a_subclass_with_a_name_registers_itself_after_the_known_ones(scratch_registry):
    class Zero(Attack):
        """Returns x: an attack of no effect."""

        name = "zero"
        iterative = False

        def __init__(self, eps: float) -> None:
            super().__init__(eps, step_size=eps, steps=1, random_start=False)

        def __call__(self, x, loss_fn, generator=None):
            return x.detach()

    class Unnamed(Attack):  # an intermediate base: no name, not a family
        pass

    assert attack_classes()[-1] is Zero and Unnamed not in attack_classes()
    assert attacks.ATTACK_NAMES[-1] == "zero"
    spec = parse_eval("zero_eps4")
    attack = build_attack(spec)
    assert isinstance(attack, Zero) and attack.eps == 4 / 255
    assert eval_name("zero", 1, 4.0) == "zero_eps4"
    assert attack_order("zero") == len(FAMILIES) + 1 > attack_order("apgd")
    x = torch.rand(1, 3, 4, 4)
    assert torch.equal(attack(x, lambda z: z.sum()), x)


def test_order_places_a_family_and_ties_go_by_name(scratch_registry):
    class Second(attacks.PGD):
        name = "bpgd"
        order = 2

    assert attacks.ATTACK_NAMES == ("fgsm", "bpgd", *FAMILIES[1:])
    assert isinstance(build_attack(parse_eval("bpgd3_eps2")), Second)


@pytest.mark.parametrize("bad", ["l2pgd", "PGD", "pgd_x", "", "clean", "worst"])
def test_a_name_the_grammar_cannot_read_is_refused(scratch_registry, bad):
    with pytest.raises(MtsweepError, match=repr(bad)):
        type("Bad", (Attack,), {"name": bad})


def test_a_taken_name_is_refused(scratch_registry):
    with pytest.raises(MtsweepError, match="'pgd' .* is taken by attacks.pgd.PGD"):
        type("Other", (Attack,), {"name": "pgd"})
    assert attacks.ATTACK_NAMES == FAMILIES
