"""``mtsweep export --to``: the format its suffix names, or one line refusing another suffix."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from orchestrator.cli import main
from tests.helpers.release_store import unpack_release_store
from tests.helpers.sweep_files import TINY_SWEEP


@pytest.fixture
def finished_run(tmp_path):
    """A run directory holding one finished trial (release 0.1.0's store); no Ray needed."""
    out = tmp_path / "run"
    unpack_release_store(out)
    request = {"sweep": str(TINY_SWEEP), "preset": "smoke", "tasks": ["s"]}
    (out / "sweep.json").write_text(json.dumps(request))
    return out


def test_the_suffix_names_the_format(finished_run, tmp_path, capsys):
    parquet, csv = tmp_path / "trials.parquet", tmp_path / "trials.CSV"
    assert main(["export", "--out", str(finished_run), "--to", str(parquet)]) == 0
    assert main(["export", "--out", str(finished_run), "--to", str(csv)]) == 0
    assert capsys.readouterr().out.count("rows (1 trials)") == 2
    assert parquet.read_bytes()[:4] == b"PAR1" and not csv.read_bytes().startswith(b"PAR1")
    from_parquet, from_csv = pd.read_parquet(parquet), pd.read_csv(csv, keep_default_na=False)
    assert list(from_csv.columns) == list(from_parquet.columns) and len(from_csv) > 0
    for column in ("trial_key", "run_id", "main_task", "eval", "task", "metric", "weights"):
        assert from_csv[column].astype(str).tolist() == from_parquet[column].tolist()
    assert from_csv["value"].tolist() == pytest.approx(from_parquet["value"].tolist())


@pytest.mark.parametrize("name", ["trials.xlsx", "trials", "trials.parquet.gz"])
def test_another_suffix_is_refused_in_one_line_before_anything_is_read(tmp_path, capsys, name):
    out, to = tmp_path / "never-ran", tmp_path / name
    assert main(["export", "taskonomy-pairs", "--out", str(out), "--to", str(to)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "name a .parquet or .csv file" in err and name in err
    assert not to.exists() and not out.exists()
