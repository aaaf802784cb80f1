"""Numbers as people write them (``1e-3``) are numbers, in sweep files and in ``--set``."""

from __future__ import annotations

import pytest
import yaml

from orchestrator.cli import main
from sweeps.definition import load_sweep
from sweeps.yaml_numbers import load_yaml
from tests.helpers.sweep_files import TINY_SWEEP


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-3", 0.001),
        ("5e-4", 0.0005),
        ("1E3", 1000.0),
        ("1e3", 1000.0),
        ("+1e3", 1000.0),
        ("-2.5e-1", -0.25),
        ("1.0e3", 1000.0),
        ("-.5E+2", -50.0),
        (".5", 0.5),
        ("5.", 5.0),
        ("0.001", 0.001),
        ("1_000", 1000),  # YAML 1.1 and Python read it so; kept (YAML 1.2 would give text)
        ("12", 12),
        ("0x1F", 31),
    ],
)
def test_the_forms_people_write_are_numbers(text, value):
    parsed = load_yaml(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("text", ["1e-3x", "1.2.3", "v1.2", "1e", "e3", "1e-", "0.1.0-rc1"])
def test_what_only_looks_like_a_number_stays_text(text):
    assert load_yaml(text) == text


def test_everything_the_old_loader_read_reads_the_same():
    """No trial key moves: every built-in sweep file parses exactly as before."""
    for name in ("taskonomy-pairs", "cityscapes-single-task-attack", "output-dimensionality"):
        text = load_sweep(name).source.read_text()
        assert load_yaml(text) == yaml.safe_load(text)


def test_a_sweep_file_and_set_take_1e_minus_3(tmp_path, capsys):
    path = tmp_path / "lr.yaml"
    path.write_text(TINY_SWEEP.read_text().replace("lr: 0.003", "lr: 1e-3"))
    assert load_sweep(str(path)).resolved("smoke")["train"]["lr"] == 0.001

    assert main(["show", str(path), "--set", "train.lr=5e-4", "--config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out.split("\n", 1)[1])["train"]["lr"] == 0.0005
    # 1e-3 and 0.001 are one value, so one trial
    keys = []
    for lr in ("1e-3", "0.001", "1.0e-3"):
        assert main(["show", str(TINY_SWEEP), "--tasks", "d", "--set", f"train.lr={lr}"]) == 0
        keys.append(capsys.readouterr().out.splitlines()[2].split()[0])
    assert len(set(keys)) == 1


def test_text_that_is_not_a_number_is_still_refused_where_a_number_belongs(capsys):
    assert main(["show", str(TINY_SWEEP), "--set", "train.lr=1e-3x"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "train.lr: expected a number" in err and "1e-3x" in err


def test_a_version_like_value_stays_text_where_text_belongs(capsys):
    argv = ["show", str(TINY_SWEEP), "--set", "model.init_from=1.2.3", "--config"]
    assert main(argv) == 0
    resolved = yaml.safe_load(capsys.readouterr().out.split("\n", 1)[1])
    assert resolved["model"]["init_from"] == "1.2.3"
