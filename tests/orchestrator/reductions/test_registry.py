"""The reduction registry: names, lookup, ``reduce_to`` and its import-time footprint."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orchestrator.reductions import REDUCTIONS, get_reduction, reduce_to, reduction_names
from orchestrator.reductions.table import ReduceError, read_result_table, read_summary
from tests.orchestrator.reductions.conftest import is_picture


def test_every_module_but_the_helpers_is_a_reduction_with_the_three_functions():
    assert reduction_names() == (
        "attack_strength",
        "attack_table",
        "fig7",
        "multitask_attack",
        "output_dim",
    )
    assert tuple(REDUCTIONS) == reduction_names() and len(REDUCTIONS) == 5
    for name in reduction_names():
        module = get_reduction(name)
        assert module is REDUCTIONS[name] and module.__name__ == f"orchestrator.reductions.{name}"
        assert all(callable(getattr(module, f)) for f in ("reduce", "summary", "draw"))
    assert "table" not in REDUCTIONS and "plotting" not in REDUCTIONS


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(
        ReduceError, match="unknown reduction 'fig8'; known: attack_strength, attack_table, fig7,"
    ):
        get_reduction("fig8")
    with pytest.raises(ReduceError, match="unknown reduction 'naming'"):
        get_reduction("naming")  # a helper, not a reduction
    with pytest.raises(KeyError):
        REDUCTIONS["fig8"]


def test_a_new_module_is_a_reduction_and_one_without_the_functions_is_refused(tmp_path):
    """Adding a reduction is adding its module: run against a copy of the package."""
    src = Path(__file__).resolve().parents[3]
    shutil.copytree(src / "orchestrator", tmp_path / "orchestrator")
    folder = tmp_path / "orchestrator" / "reductions"
    (folder / "row_count.py").write_text(
        "def reduce(trials, dataset):\n    return trials\n\n\n"
        "def summary(table):\n    return f'{len(table)} rows'\n\n\n"
        "def draw(table, out_dir, fmt='png'):\n    return []\n"
    )
    (folder / "half_done.py").write_text("def reduce(trials, dataset):\n    return trials\n")
    script = textwrap.dedent(
        """
        import sys
        import pandas as pd
        from orchestrator.reductions import REDUCTIONS, get_reduction, reduction_names
        from orchestrator.reductions.table import ReduceError
        assert reduction_names() == (
            "attack_strength", "attack_table", "fig7", "half_done", "multitask_attack",
            "output_dim", "row_count",
        ), reduction_names()
        assert "matplotlib" not in sys.modules
        assert REDUCTIONS["row_count"].summary(pd.DataFrame({"a": [1, 2]})) == "2 rows"
        try:
            get_reduction("half_done")
        except ReduceError as e:
            assert "lacks summary, draw" in str(e), e
        else:
            raise AssertionError("half_done accepted")
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(src)])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr


def test_reduce_to_writes_table_summary_and_pictures(fig7_trials, tmp_path):
    paths, line = reduce_to(fig7_trials, "fig7", "taskonomy", tmp_path / "r/fig7.parquet", tmp_path)
    assert [p.name for p in paths] == ["fig7.parquet", "fig7_clean.png"]
    assert is_picture(paths[1])
    assert read_summary(paths[0]) == line
    assert line.startswith(
        "clean: improved 3/5 (3 significant at 5 % FDR, Benjamini–Hochberg), mean +6.00 %"
    )
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
