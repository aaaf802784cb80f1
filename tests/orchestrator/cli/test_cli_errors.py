"""Bad input: one clear line on stderr, exit code 2, no traceback, nothing written."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from orchestrator.cli import main


def _one_line_error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("mtsweep: error:") and "Traceback" not in err
    return err


def test_unknown_sweep(capsys, tmp_path):
    err = _one_line_error(capsys, ["run", "no-such-sweep", "--out", str(tmp_path / "o")])
    assert "unknown sweep 'no-such-sweep'" in err and "taskonomy-pairs" in err
    assert not (tmp_path / "o").exists()


def test_unknown_task(capsys, tmp_path):
    err = _one_line_error(
        capsys, ["run", "taskonomy-pairs", "--tasks", "s,bogus", "--out", str(tmp_path / "o")]
    )
    assert "bogus" in err and "known tasks" in err
    assert not (tmp_path / "o").exists()


def test_unreadable_yaml(capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("models: {pairs: [\n")
    err = _one_line_error(capsys, ["run", str(bad)])
    assert "not valid YAML" in err


def test_bad_preset(capsys):
    err = _one_line_error(capsys, ["show", "taskonomy-pairs", "--preset", "huge"])
    assert "no preset 'huge'" in err


@pytest.mark.parametrize("make_root", ["missing", "empty"])
def test_missing_or_empty_data_root(capsys, tmp_path, make_root):
    root = tmp_path / "data"
    if make_root == "empty":
        root.mkdir()
    out = tmp_path / "o"
    err = _one_line_error(
        capsys, ["run", "taskonomy-pairs", "--data-root", str(root), "--out", str(out)]
    )
    assert str(root) in err and ("does not exist" in err or "is empty" in err)
    assert not out.exists()


def test_garbage_trials_table(capsys, tmp_path):
    garbage = tmp_path / "trials.parquet"
    garbage.write_bytes(b"this is not parquet at all")
    out = tmp_path / "result.parquet"
    err = _one_line_error(capsys, ["reduce", "--from-table", str(garbage), "--to", str(out)])
    assert str(garbage) in err
    assert not out.exists()


def test_unknown_reduction_names_the_known_ones(capsys, tmp_path):
    out = tmp_path / "result.parquet"
    err = _one_line_error(
        capsys,
        [
            "reduce",
            "--from-table",
            str(tmp_path / "t.parquet"),
            "--reduction",
            "fig8",
            "--to",
            str(out),
        ],
    )
    assert "unknown reduction 'fig8'" in err and "attack_table" in err and "fig7" in err
    assert not out.exists()


def test_bad_flag_value_is_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "taskonomy-pairs", "--seeds", "a,b"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--seeds" in err


@pytest.mark.parametrize(
    ("seeds", "expected"),
    [
        ("0,0", "--seeds: seed 0 listed more than once; give each seed once"),
        ("1,0,1,0,2", "--seeds: seeds 0, 1 listed more than once"),
    ],
)
def test_duplicate_seeds_are_named_as_such(capsys, tmp_path, seeds, expected):
    out = tmp_path / "o"
    err = _one_line_error(capsys, ["run", "taskonomy-pairs", "--seeds", seeds, "--out", str(out)])
    assert expected in err and "model" not in err
    assert not out.exists()


def test_duplicate_seeds_in_a_preset_name_the_preset(capsys, sweep_yaml):
    err = _one_line_error(capsys, ["show", str(sweep_yaml({"presets.smoke.seeds": [3, 3]}))])
    assert "presets.smoke.seeds: seed 3 listed more than once" in err


def test_real_process_prints_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "run", "nope"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr


def test_a_reader_that_leaves_before_the_output_ends_gets_no_traceback():
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "show", "taskonomy-pairs"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # as `| head` does once it has its lines
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 128 + signal.SIGPIPE and err == ""


def test_out_dir_of_another_sweep_is_refused(capsys, tmp_path):
    from orchestrator.sweep.plan import REQUEST_FILE as MARKER
    from orchestrator.sweep.plan import TRIALS_FILE, Request, claim_out_dir, make_plan

    out = tmp_path / "o"
    claim_out_dir(make_plan(Request("taskonomy-pairs"), out=out))
    marker = (out / MARKER).read_text()
    err = _one_line_error(capsys, ["run", "output-dimensionality", "--out", str(out)])
    assert "taskonomy-pairs" in err and "--force" in err
    assert (out / MARKER).read_text() == marker
    assert sorted(p.name for p in out.iterdir()) == [MARKER, TRIALS_FILE]  # nothing else written


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("train.epoch=200", "presets.smoke.train.epoch: unknown key (did you mean 'epochs'?)"),
        ("train.epochs=many", "presets.smoke.train.epochs: expected an integer >= 0, got 'many'"),
        ("train.lr=-1", "presets.smoke.train.lr: expected a number"),
        ("evaluation.n_image=3", "(did you mean 'n_images'?)"),
        ("resources.gpus_per_trial=.nan", "presets.smoke.resources.gpus_per_trial"),
        ("model.widht=4", "presets.smoke.model.widht: unknown key (did you mean 'width'?)"),
        ("train", "expected KEY=VALUE"),
    ],
)
def test_typo_or_wrong_type_in_a_preset_is_refused_naming_the_key(
    capsys, tmp_path, override, expected
):
    out = tmp_path / "o"
    err = _one_line_error(capsys, ["run", "taskonomy-pairs", "--set", override, "--out", str(out)])
    assert expected in err
    assert not out.exists()


def test_typo_in_a_sweep_file_is_refused_at_load(capsys, sweep_yaml):
    path = sweep_yaml({"presets.smoke.train": {"epoch": 200}})
    err = _one_line_error(capsys, ["show", str(path)])
    assert "presets.smoke.train.epoch: unknown key (did you mean 'epochs'?)" in err
