"""Every benchmark script runs to its end on a tiny setting, so ``make bench`` cannot rot.

Each script's ``main(tiny=True)`` (what ``python bench/X.py --tiny`` runs) is called in
this process; its row goes to a BENCHMARKS.md of the test's own, never the repository's.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

# Whole sweeps or scripts in their own processes: handed out first (tests/conftest.py).
pytestmark = pytest.mark.slow

BENCH = Path(__file__).parents[2] / "bench"
HELPERS = ("record.py", "run_all.py")
SCRIPTS = sorted(p.name for p in BENCH.glob("*.py") if p.name not in HELPERS)


@pytest.fixture
def bench_record(tmp_path, monkeypatch):
    """The scripts' shared ``record`` module, writing into ``tmp_path``."""
    monkeypatch.syspath_prepend(str(BENCH))
    import record

    monkeypatch.setattr(record, "BENCHMARKS", tmp_path / "BENCHMARKS.md")
    return record


def test_run_all_runs_every_bench_script():
    assert {"bench_data.py", "bench_harness.py", "bench_scheduling.py"} <= set(SCRIPTS)
    source = (BENCH / "run_all.py").read_text()
    assert 'glob("bench_*.py")' in source  # run_all picks up each bench_* script itself


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_runs_tiny(script, bench_record, capsys, monkeypatch):
    spec = importlib.util.spec_from_file_location(f"bench_{Path(script).stem}", BENCH / script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    module.main(tiny=True)
    printed = capsys.readouterr().out
    numbers, _ = json.JSONDecoder().raw_decode(printed[printed.index("{") :])  # its numbers
    assert numbers and all(v is not None for v in numbers.values())
    if script.startswith("bench_"):  # each bench_* script appends its dated row
        text = bench_record.BENCHMARKS.read_text()
        assert text.count("\n- ") == 1 and json.dumps(numbers, sort_keys=True) in text
