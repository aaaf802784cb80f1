"""The reduction registry: names, lookup, ``reduce_to`` and its import-time footprint."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from orchestrator.reductions import REDUCTIONS, get_reduction, reduce_to, reduction_names
from orchestrator.reductions.table import ReduceError, read_result_table, read_summary
from tests.orchestrator.reductions.conftest import is_picture


def test_every_reduction_has_the_three_functions():
    assert reduction_names() == ("fig7", "multitask_attack", "attack_table", "output_dim")
    for name in reduction_names():
        module = get_reduction(name)
        assert module is REDUCTIONS[name]
        assert all(callable(getattr(module, f)) for f in ("reduce", "summary", "draw"))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ReduceError, match="unknown reduction 'fig8'; known: fig7, multitask"):
        get_reduction("fig8")


def test_reduce_to_writes_table_summary_and_pictures(fig7_trials, tmp_path):
    paths, line = reduce_to(fig7_trials, "fig7", "taskonomy", tmp_path / "r/fig7.parquet", tmp_path)
    assert [p.name for p in paths] == ["fig7.parquet", "fig7_clean.png"]
    assert is_picture(paths[1])
    assert read_summary(paths[0]) == line
    assert line.startswith("clean: improved 3/5 (3 significant at 95 %), mean +6.00 %")
    assert len(read_result_table(paths[0])) == 9


def test_reduce_to_writes_nothing_on_bad_input(fig7_trials, tmp_path):
    with pytest.raises(ReduceError, match="outdim"):
        reduce_to(fig7_trials, "output_dim", "taskonomy", tmp_path / "o/t.parquet", tmp_path / "o")
    with pytest.raises(ReduceError, match="format 'bmp'"):
        reduce_to(fig7_trials, "fig7", "taskonomy", tmp_path / "o/t.parquet", tmp_path, fmt="bmp")
    assert not (tmp_path / "o").exists()


def test_reducing_never_imports_matplotlib():
    script = textwrap.dedent(
        """
        import sys
        from orchestrator.reductions import REDUCTIONS
        from tests.orchestrator.reductions.conftest import fig7_rows
        import pandas as pd
        table = REDUCTIONS["fig7"].reduce(pd.DataFrame(fig7_rows()), "taskonomy")
        REDUCTIONS["fig7"].summary(table)
        assert "matplotlib" not in sys.modules, "matplotlib imported"
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
