"""Evaluation names: parse, format, and the attack each one builds."""

from __future__ import annotations

import pytest

from attacks import APGD, ATTACK_NAMES, ATTACKS, FGSM, MIM, PGD, CosPGD, Houdini, SegPGD
from attacks.eval_names import (
    EvalSpec,
    applies_to,
    attack_order,
    build_attack,
    eval_name,
    parse_eval,
    pgd_steps_for,
    training_attack,
)
from attacks.pgd import madry_step_size
from tasks.errors import MtsweepError
from tasks.registry import parse_tasks

NAMES = [
    "clean",
    "fgsm_eps4",
    "pgd50_eps4",
    "mim100_eps4",
    "houdini100_eps4",
    "pgd10_eps4_mt",
    "fgsm_eps8_mt",
    "pgd3_eps0.5",
    "segpgd50_eps4",
    "cospgd50_eps4",
    "apgd100_eps4",
    "apgd100_eps4_mt_dgba",
    "pgd10_eps4_mt_rel",
    "pgd10_eps4_mt_w0.1",
    "worst_pgd50_eps4-segpgd50_eps4-apgd100_eps4_mt",
]


@pytest.mark.parametrize("name", NAMES)
def test_names_round_trip(name):
    spec = parse_eval(name)
    assert spec.name == name
    if not spec.is_worst:
        args = (spec.attack, spec.steps, spec.eps, spec.multitask, spec.combiner, spec.aux_weight)
        assert eval_name(*args) == name


def test_parsed_parts():
    assert parse_eval("pgd50_eps4") == EvalSpec("pgd", 50, 4.0, False)
    assert parse_eval("pgd10_eps4_mt") == EvalSpec("pgd", 10, 4.0, True)
    assert parse_eval("fgsm_eps4") == EvalSpec("fgsm", 1, 4.0, False)
    assert parse_eval("clean").is_clean


@pytest.mark.parametrize(
    "name",
    [
        "pgd_eps4",
        "pgd50eps4",
        "foo10_eps4",
        "pgd50_eps-1",
        "pgd50_eps0",
        "pgd50_eps256",
        "pgd0_eps4",
        "pgd050_eps4",
        "pgd50_eps4.0",
        "fgsm1_eps4",
        "houdini100_eps4_mt",
        "PGD50_eps4",
        "pgd50_eps4_mtx",
        "",
    ],
)
def test_garbage_is_refused_with_a_clear_error(name):
    with pytest.raises(ValueError, match="evaluation|attack"):
        parse_eval(name)


def test_build_attack_uses_the_papers_units():
    assert build_attack(parse_eval("clean")) is None
    fgsm = build_attack(parse_eval("fgsm_eps4"))
    assert isinstance(fgsm, FGSM) and fgsm.steps == 1 and fgsm.step_size == fgsm.eps == 4 / 255
    pgd = build_attack(parse_eval("pgd50_eps4"))
    assert isinstance(pgd, PGD) and pgd.random_start
    assert (pgd.eps, pgd.step_size, pgd.steps) == (4 / 255, 1 / 255, 50)
    mim = build_attack(parse_eval("mim100_eps8"))
    assert isinstance(mim, MIM) and (mim.eps, mim.steps, mim.decay) == (8 / 255, 100, 1.0)
    houdini = build_attack(parse_eval("houdini20_eps4"))
    assert isinstance(houdini, Houdini) and houdini.objective == "houdini"


def test_pgd_steps_follow_the_papers_rule():
    # min(eps + 4, ceil(1.25 eps)) for the paper's eps grid
    assert [pgd_steps_for(e) for e in (1, 2, 4, 8, 16)] == [2, 3, 5, 10, 20]


def test_attacks_carry_their_names_in_the_papers_row_order():
    assert ATTACKS == (FGSM, PGD, MIM, Houdini, SegPGD, CosPGD, APGD)
    assert ATTACK_NAMES == tuple(a.name for a in ATTACKS)
    assert ATTACK_NAMES[:4] == ("fgsm", "pgd", "mim", "houdini")
    for cls in ATTACKS:  # every family round-trips through the grammar to its own class
        name = eval_name(cls.name, 3, 4.0)
        assert isinstance(build_attack(parse_eval(name)), cls)
    rows = sorted(
        ["houdini100_eps4", "clean", "mim100_eps4", "pgd50_eps4", "fgsm_eps4"],
        key=lambda e: attack_order(parse_eval(e).attack),
    )
    assert rows == ["clean", "fgsm_eps4", "pgd50_eps4", "mim100_eps4", "houdini100_eps4"]
    with pytest.raises(MtsweepError, match="known"):
        attack_order("cw")


def test_houdini_applies_only_when_every_attacked_task_is_segmentation():
    seg, depth, auto = parse_tasks("cityscapes", "sdA")
    for name in ("clean", "fgsm_eps4", "pgd50_eps4", "mim100_eps4", "pgd10_eps4_mt"):
        assert applies_to(name, [depth]) and applies_to(name, [seg, depth, auto])
    assert applies_to("houdini100_eps4", [seg])
    assert not applies_to("houdini100_eps4", [depth])
    assert not applies_to("houdini100_eps4", [seg, depth])
    assert applies_to("houdini", [seg]) and not applies_to("houdini", [auto])
    assert not applies_to("pgd50_eps4", [])  # an attack needs a task to attack
    assert applies_to("clean", [])


def test_bad_names_are_user_errors():
    with pytest.raises(MtsweepError):
        parse_eval("pgd_eps4")
    with pytest.raises(MtsweepError):
        applies_to("cw10_eps4", [])


def test_training_attacks_take_madry_style_steps():
    assert madry_step_size(4 / 255, 3) == pytest.approx(2.5 * 4 / 255 / 3)
    pgd = training_attack(parse_eval("pgd3_eps4_mt"))
    assert isinstance(pgd, PGD) and pgd.random_start
    assert (pgd.eps, pgd.steps) == (4 / 255, 3)
    assert pgd.step_size * pgd.steps == pytest.approx(2.5 * pgd.eps)
    assert pgd.step_size > build_attack(parse_eval("pgd3_eps4_mt")).step_size
    fgsm = training_attack(parse_eval("fgsm_eps4"))
    assert fgsm.step_size == fgsm.eps == 4 / 255
    with pytest.raises(MtsweepError, match="clean"):
        training_attack(parse_eval("clean"))


def test_combiners_and_worst_cases_parse_to_what_they_run():
    assert parse_eval("pgd10_eps4_mt").combiner == "sum"
    w = parse_eval("pgd10_eps4_mt_w0.01")
    assert (w.multitask, w.combiner, w.aux_weight) == (True, "weighted", 0.01)
    assert parse_eval("mim5_eps4_mt_dgba").combiner == "dgba"
    worst = parse_eval("worst_fgsm_eps8-pgd10_eps4_mt")
    assert worst.is_worst and worst.members == ("fgsm_eps8", "pgd10_eps4_mt")
    assert (worst.steps, worst.eps) == (11, 8.0)  # cost: its members' steps summed
    assert attack_order("worst") > attack_order("apgd")
    assert isinstance(build_attack(parse_eval("apgd20_eps4")), APGD)
    assert build_attack(parse_eval("apgd20_eps4")).step_size == pytest.approx(8 / 255)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("pgd10_eps4_rel", "malformed"),  # a combiner needs _mt
        ("pgd10_eps4_mt_w", "malformed"),
        ("pgd10_eps4_mt_w01", "malformed"),
        ("houdini10_eps4_mt_rel", "one task at a time"),
        ("segpgd10_eps4_mt", "one task at a time"),
        ("worst_pgd10_eps4", "two different"),
        ("worst_pgd10_eps4-pgd10_eps4", "two different"),
        ("worst_pgd10_eps4-clean", "not an attack"),
        ("worst_pgd10_eps4-bogus3_eps4", "unknown attack"),
    ],
)
def test_bad_combiners_and_worst_cases_are_refused(name, says):
    with pytest.raises(MtsweepError, match=says):
        parse_eval(name)


def test_segpgd_applies_to_segmentation_only_and_worst_to_what_all_members_do():
    seg, depth = parse_tasks("cityscapes", "segment_semantic,depth")
    assert applies_to("segpgd5_eps4", [seg]) and not applies_to("segpgd5_eps4", [depth])
    assert applies_to("cospgd5_eps4", [depth]) and applies_to("apgd5_eps4", [depth])
    assert not applies_to("worst_pgd5_eps4-segpgd5_eps4", [depth])
    assert applies_to("worst_pgd5_eps4-segpgd5_eps4", [seg])


def test_training_refuses_pixel_weighting_attacks_and_combiners():
    for name in ("segpgd3_eps4", "cospgd3_eps4", "pgd3_eps4_mt_rel", "worst_pgd3_eps4-fgsm_eps4"):
        with pytest.raises(MtsweepError, match="training"):
            training_attack(parse_eval(name))
    assert isinstance(training_attack(parse_eval("apgd3_eps4_mt")), APGD)
