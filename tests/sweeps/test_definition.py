"""Sweep loading, validation and expansion into TrialSpecs."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from orchestrator.cli import main
from sweeps.definition import SweepError, builtin_names, load_sweep, parse_sweep
from sweeps.spec import TrialSpec


def test_taskonomy_pairs_is_121_models():
    sweep = load_sweep("taskonomy-pairs")
    specs = sweep.expand("smoke")
    assert len(specs) == 121
    baselines = [s for s in specs if not s.aux_tasks]
    pairs = [s for s in specs if s.aux_tasks]
    assert len(baselines) == 11 and len(pairs) == 110
    assert len({s.trial_key for s in specs}) == 121
    # every (main, aux) pair exactly once, never main == aux
    combos = {(s.main_tasks[0], s.aux_tasks[0]) for s in pairs}
    assert len(combos) == 110 and all(m != a for m, a in combos)
    assert all(s.evals == ("clean", "pgd50_eps4") for s in specs)
    assert all(s.attacked == s.main_tasks == s.report for s in specs)


def test_aux_weights_follow_the_paper_code_list():
    specs = {
        (s.main_tasks[0], s.aux_tasks[0] if s.aux_tasks else None): s
        for s in load_sweep("taskonomy-pairs").expand("smoke")
    }
    s_n = specs[("segment_semantic", "normal")]
    assert s_n.weights == {"segment_semantic": 1.0, "normal": 0.1}
    assert specs[("segment_semantic", "depth_zbuffer")].weights["depth_zbuffer"] == 0.01
    assert specs[("normal", "segment_semantic")].weights["segment_semantic"] == 0.01
    assert specs[("segment_semantic", None)].weights == {"segment_semantic": 1.0}


def test_keys_are_stable_and_depend_on_what_matters():
    a = load_sweep("taskonomy-pairs").expand("smoke")[5]
    b = load_sweep("taskonomy-pairs").expand("smoke")[5]
    assert a.trial_key == b.trial_key and a.model_key == b.model_key
    assert TrialSpec.from_dict(a.to_dict()).trial_key == a.trial_key
    other_eval = dataclasses.replace(a, evals=("clean",))
    assert other_eval.trial_key != a.trial_key
    assert other_eval.model_key == a.model_key  # same training: trained once
    other_seed = dataclasses.replace(a, seed=1)
    assert other_seed.model_key != a.model_key
    renamed = dataclasses.replace(a, sweep="elsewhere", preset="x")
    assert renamed.trial_key == a.trial_key


def test_tasks_and_seeds_narrow_and_widen():
    sweep = load_sweep("taskonomy-pairs")
    specs = sweep.expand("smoke", tasks=["s", "d", "normal"])
    assert len(specs) == 9
    assert {t for s in specs for t in s.train_tasks} == {
        "segment_semantic",
        "depth_zbuffer",
        "normal",
    }
    assert len(sweep.expand("smoke", tasks=["s", "d", "n"], seeds=[0, 1, 2])) == 27


def test_tasks_take_the_papers_letters_run_together(capsys):
    """``--tasks sdn`` as the paper (and a sweep file's ``train: dn``) writes it."""
    keys = []
    for tasks in ("sdn", "s,d,n", "s,dn", "segment_semantic,depth_zbuffer,normal"):
        assert main(["show", "taskonomy-pairs", "--tasks", tasks]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].startswith("taskonomy-pairs/smoke: 9 trials"), tasks
        keys.append(sorted(line.split()[0] for line in lines[2:]))
    assert all(k == keys[0] for k in keys)
    assert main(["show", "taskonomy-pairs", "--tasks", "sdx"]) == 2
    err = capsys.readouterr().err
    assert "--tasks: 'sdx' is neither a task nor a run of task letters" in err
    assert "unknown taskonomy task 'x'" in err


def test_paper_preset_needs_real_data():
    sweep = load_sweep("taskonomy-pairs")
    with pytest.raises(SweepError, match="--data-root"):
        sweep.expand("paper")
    specs = sweep.expand("paper", data_root="/data/taskonomy")
    assert specs[0].data["source"] == "real" and specs[0].data["root"] == "/data/taskonomy"
    assert specs[0].model["width"] == 64 and specs[0].train["epochs"] == 150


def test_every_builtin_sweep_loads_and_expands():
    for name in builtin_names():
        sweep = load_sweep(name)
        assert sweep.expand("smoke"), name
        assert {"smoke", "paper"} <= set(sweep.presets), name


def _base() -> dict:
    return yaml.safe_load((load_sweep("taskonomy-pairs").source).read_text())


@pytest.mark.parametrize(
    "mutate, message",
    [
        (
            lambda d: d["models"]["pairs"].__setitem__("tasks", ["s", "q"]),
            "unknown taskonomy task 'q'",
        ),
        (lambda d: d.__setitem__("evals", ["clean", "pgd_eps4"]), "pgd_eps4"),
        (lambda d: d["presets"]["smoke"]["train"].__setitem__("epochs", -1), "train.epochs"),
        (lambda d: d.__setitem__("colour", 1), "unknown key"),
        (lambda d: d.__setitem__("dataset", "imagenet"), "unknown dataset"),
        (lambda d: d.__setitem__("arch", "vgg"), "unknown arch"),
        (lambda d: d["presets"]["smoke"].__setitem__("seeds", [-1]), "seeds"),
        (
            lambda d: d["presets"]["smoke"]["train"].__setitem__("checkpoint_every_s", "often"),
            "checkpoint_every_s",
        ),
    ],
)
def test_bad_definitions_name_the_problem(mutate, message):
    raw = _base()
    mutate(raw)
    with pytest.raises(SweepError, match=message):
        parse_sweep(raw)


def test_unknown_preset_and_tasks_are_clear():
    sweep = load_sweep("taskonomy-pairs")
    with pytest.raises(SweepError, match="no preset 'huge'"):
        sweep.expand("huge")
    with pytest.raises(SweepError, match="unknown taskonomy task 'z'"):
        sweep.expand("smoke", tasks=["z"])


def test_unreadable_or_unknown_files(tmp_path):
    with pytest.raises(SweepError, match="unknown sweep"):
        load_sweep("no-such-sweep")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(SweepError, match="not valid YAML"):
        load_sweep(str(bad))
    with pytest.raises(SweepError, match="does not exist"):
        load_sweep(str(tmp_path / "missing.yaml"))


def test_measures_take_their_settings_by_name_and_the_release_block_keeps_its_keys():
    raw = yaml.safe_load(load_sweep("output-dimensionality").source.read_text())
    smoke = raw["presets"]["smoke"]
    release = parse_sweep(raw).expand("smoke")
    by_name = {**smoke, "measures": {"output_dim": smoke.pop("output_dim")}}
    raw["presets"]["smoke"] = by_name
    raw.pop("output_dim")
    assert [s.trial_key for s in parse_sweep(raw).expand("smoke")] == [s.trial_key for s in release]
    # Both measures side by side: each gets its own settings, parsed once per trial.
    by_name["measures"]["grad_norm"] = None
    (spec, *_) = parse_sweep(raw).expand("smoke")
    assert spec.measures == ("output_dim", "grad_norm")
    assert spec.config.measures["output_dim"].draws == 5
    for bad, message in [
        ({"grad_norm": {"draws": 2}}, r"presets.smoke.measures.grad_norm.draws: unknown key"),
        ({"output_dim": {"ks": [0]}}, r"presets.smoke.measures.output_dim.ks: .* >= 1"),
        ({"outdim": None}, "unknown measure 'outdim'"),
    ]:
        raw["presets"]["smoke"] = {**by_name, "measures": bad}
        with pytest.raises(SweepError, match=message):
            parse_sweep(raw)


def test_set_is_applied_and_merged_once_for_every_reader(monkeypatch):
    import sweeps.definition as definition

    sweep = load_sweep("taskonomy-pairs")
    applied = []
    real = definition.apply_overrides
    monkeypatch.setattr(definition, "apply_overrides", lambda *a: applied.append(a[1]) or real(*a))
    overrides = ["train.epochs=2", "resources.cpus_per_trial=2", "evals=[clean]"]
    specs = sweep.expand("smoke", tasks=["s"], overrides=overrides)
    assert sweep.resources("smoke", overrides).cpus_per_trial == 2
    assert sweep.resolved("smoke", overrides)["train"]["epochs"] == 2
    assert applied == [overrides]  # once, whoever asks
    assert [(s.config.train.epochs, s.evals) for s in specs] == [(2, ("clean",))]


def test_fidelity_authors_replays_the_authors_and_paper_moves_no_key():
    sweep = load_sweep("taskonomy-pairs")
    raw = sweep.presets["paper"]
    default = sweep.expand("paper", require_data=False)
    said_paper = sweep.expand("paper", require_data=False, overrides=["fidelity=paper"])
    assert [s.trial_key for s in said_paper] == [s.trial_key for s in default]
    authors = sweep.expand("paper", require_data=False, overrides=["fidelity=authors"])
    assert "fidelity" not in raw and all(
        s.data["convention"] == "mtrobust" and s.evaluation["fidelity"] == "authors"
        for s in authors
    )
    assert not {s.trial_key for s in authors} & {s.trial_key for s in default}
    resolved = sweep.resolved("paper", ["fidelity=authors"])
    assert resolved["evaluation"]["fidelity"] == "authors"
    assert resolved["data"]["convention"] == "mtrobust"
    city = load_sweep("cityscapes-single-task-attack").expand(
        "smoke", overrides=["fidelity=authors"]
    )
    assert all(s.evaluation["fidelity"] == "authors" and "convention" not in s.data for s in city)
    with pytest.raises(
        SweepError, match=r"presets\.paper\.fidelity: expected one of paper, authors"
    ):
        sweep.expand("paper", require_data=False, overrides=["fidelity=author"])
