"""The reduction registry: names, lookup, hooks, ``reduce_to`` and its import-time footprint."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from orchestrator.reductions import (
    REDUCTIONS,
    ReductionError,
    fig7,
    get_reduction,
    reduce_to,
    reduction_names,
)
from orchestrator.reductions.table import ReduceError, read_result_table, read_summary
from tests.helpers.trial_tables import is_picture


def test_each_registered_reduction_provides_every_hook():
    assert reduction_names() == (
        "attack_strength",
        "attack_table",
        "fig7",
        "multitask_attack",
        "output_dim",
    )
    for name in reduction_names():
        reduction = get_reduction(name)
        assert reduction.name == name and reduction.reduce.__module__ == REDUCTIONS.get(name)
        assert all(callable(getattr(reduction, f)) for f in ("reduce", "summary", "draw"))
    assert "table" not in REDUCTIONS and "plotting" not in REDUCTIONS
    assert get_reduction("fig7").summarize is fig7.summarize
    assert get_reduction("attack_table").summarize(pd.DataFrame()) == {}  # no numbers


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ReductionError, match="unknown reduction 'fig8'; did you mean 'fig7'?"):
        get_reduction("fig8")
    with pytest.raises(
        ReductionError, match="unknown reduction 'naming'.*known: attack_strength, attack_table"
    ):
        get_reduction("naming")  # a helper, not a reduction


def test_a_registered_module_is_a_reduction_and_one_without_the_functions_is_refused(
    tmp_path, monkeypatch
):
    (tmp_path / "row_count.py").write_text(
        "def reduce(trials, dataset):\n    return trials\n\n\n"
        "def summary(table):\n    return f'{len(table)} rows'\n\n\n"
        "def draw(table, out_dir, fmt='png'):\n    return []\n"
    )
    (tmp_path / "half_done.py").write_text("def reduce(trials, dataset):\n    return trials\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(REDUCTIONS, "_entries", dict(REDUCTIONS._entries))
    REDUCTIONS.register("row_count", "row_count")
    REDUCTIONS.register("half_done", "half_done")
    assert reduction_names()[-2:] == ("row_count", "half_done")
    assert get_reduction("row_count").summary(pd.DataFrame({"a": [1, 2]})) == "2 rows"
    with pytest.raises(ReductionError, match="lacks summary, draw"):
        get_reduction("half_done")


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
        from orchestrator.reductions import get_reduction, reduction_names
        reduction_names()
        assert "pandas" not in sys.modules and "torch" not in sys.modules, "listing imported"
        from tests.helpers.trial_tables import fig7_rows
        import pandas as pd
        table = get_reduction("fig7").reduce(pd.DataFrame(fig7_rows()), "taskonomy")
        get_reduction("fig7").summary(table)
        assert "matplotlib" not in sys.modules, "matplotlib imported"
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
