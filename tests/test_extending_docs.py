"""The worked examples of docs/extending.md really work against the code as it is.

Each example in the page is a set of marked blocks: ``<!-- example: NAME new=PATH -->``
(a new file), ``edit=PATH`` (a diff of an existing file) and ``test=PATH`` (the test the
page tells you to add). Here every example is applied to a fresh copy of the source
packages and its test runs there in its own interpreter, so no registration leaks into
this process or into another example.

docs/extending.md promises that adding an architecture, a dataset, an attack or a reduction touches
one file and its test. The examples of those four are a single new file each, in the
package whose registry finds it, and nothing else: their tests passing in the copy is the
proof that the one file is enough.
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "extending.md"
PACKAGES = ("attacks", "models", "mtsweep", "orchestrator", "sweeps", "tasks")
EXPECTED = ("architecture", "dataset", "attack", "reduction", "measure", "preset-block")
# Extension → the folder its one new module goes in (a dataset's module ends in _data.py).
ONE_FILE = {
    "architecture": re.compile(r"models/\w+\.py"),
    "dataset": re.compile(r"tasks/\w+_data\.py"),
    "attack": re.compile(r"attacks/\w+\.py"),
    "reduction": re.compile(r"orchestrator/reductions/\w+\.py"),
}

_BLOCK = re.compile(
    r"<!-- example: (?P<name>[\w-]+) (?P<kind>new|edit|test)=(?P<path>\S+) -->\s*\n"
    r"```(?P<lang>\w+)\n(?P<body>.*?)\n```",
    re.S,
)

# One interpreter imports the heavy third-party libraries once, then forks a child per
# example. A child puts its own copy first on sys.path and imports the project from there
# (the parent never imports it, so nothing registered in one example reaches another),
# runs every test_* function of the example's test file, passing a fresh directory to those
# that take ``tmp_path``, and writes its output to a log beside the file.
RUNNER = """
import inspect, os, runpy, sys, tempfile, traceback
from pathlib import Path
import matplotlib, numpy, pandas, PIL.Image, pyarrow.parquet, torch, torchvision, yaml

def run(copy, test_file):
    sys.path.insert(0, str(copy))
    import tasks
    assert Path(tasks.__file__).resolve().is_relative_to(copy.resolve()), tasks.__file__
    tests = {k: v for k, v in runpy.run_path(str(test_file)).items() if k.startswith("test_")}
    assert tests, f"no test_* function in {test_file}"
    for name, fn in tests.items():
        with tempfile.TemporaryDirectory() as tmp:
            fn(*([Path(tmp)] if "tmp_path" in inspect.signature(fn).parameters else []))
        print("passed", name, flush=True)

for work in map(Path, sys.argv[1:]):
    pid = os.fork()
    if pid == 0:
        log = os.open(work / "log.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(log, 1)
        os.dup2(log, 2)
        try:
            run(work / "src", work / "test_example.py")
            code = 0
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    (work / "status.txt").write_text(str(os.waitstatus_to_exitcode(status)))
"""


def examples() -> dict[str, list[tuple[str, str, str, str]]]:
    """Example name → its blocks (kind, path, language, body) in page order."""
    found: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)
    for m in _BLOCK.finditer(DOC.read_text(encoding="utf-8")):
        found[m["name"]].append((m["kind"], m["path"], m["lang"], m["body"] + "\n"))
    return dict(found)


def apply_diff(text: str, diff: str, where: str) -> str:
    """Apply a context diff: each ``@@``-separated hunk's old lines (' ' and '-') must occur
    exactly once and are replaced by its new lines (' ' and '+')."""
    for hunk in re.split(r"^@@.*\n", diff, flags=re.M):
        lines = hunk.splitlines()
        if not lines:
            continue
        bad = [ln for ln in lines if ln[:1] not in (" ", "+", "-") and ln]
        assert not bad, f"{where}: diff lines must start with ' ', '+' or '-': {bad[0]!r}"
        old = "".join(ln[1:] + "\n" for ln in lines if ln[:1] in (" ", "-") or not ln)
        new = "".join(ln[1:] + "\n" for ln in lines if ln[:1] in (" ", "+") or not ln)
        assert text.count(old) == 1, f"{where}: hunk context not found once:\n{old}"
        text = text.replace(old, new)
    return text


def test_the_page_has_one_worked_example_per_extension_point():
    found = examples()
    assert set(found) == set(EXPECTED)
    for name, blocks in found.items():
        kinds = [kind for kind, *_ in blocks]
        assert kinds.count("test") == 1, f"{name}: one test block expected"
        assert all(lang == ("diff" if kind == "edit" else "python") for kind, _, lang, _ in blocks)


def test_an_architecture_a_dataset_an_attack_and_a_reduction_are_one_new_file_each():
    found = examples()
    for name, where in ONE_FILE.items():
        changes = [(kind, path) for kind, path, *_ in found[name] if kind != "test"]
        assert len(changes) == 1, f"{name}: touches {changes}, not one file"
        (kind, path), *_ = changes
        assert kind == "new" and where.fullmatch(path), f"{name}: {kind} {path}"
    rows = {
        m[1]: m[2] for m in re.finditer(r"^\| ([\w ]+) \| (\*\*\d+\*\*)", DOC.read_text(), re.M)
    }
    assert {name: rows[name] for name in ONE_FILE} == dict.fromkeys(ONE_FILE, "**1**")


def prepare(name: str, work: Path) -> None:
    """``work/src``: a copy of the source packages with example ``name`` applied;
    ``work/test_example.py``: the example's test."""
    copy = work / "src"
    for package in PACKAGES:
        # __pycache__ travels too: copytree keeps mtimes, so unchanged modules need no compiling
        shutil.copytree(ROOT / package, copy / package)
    for kind, rel, _, body in examples()[name]:
        path = copy / rel
        if kind == "new":
            assert not (ROOT / rel).exists(), f"{rel} exists already; the example must be new"
            path.write_text(body, encoding="utf-8")
        elif kind == "edit":
            path.write_text(apply_diff(path.read_text(encoding="utf-8"), body, rel), "utf-8")
        else:
            (work / "test_example.py").write_text(body, encoding="utf-8")


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory):
    """Every example run in its own forked interpreter; name → (exit code, output)."""
    works = {name: tmp_path_factory.mktemp(name) for name in EXPECTED}
    for name, work in works.items():
        prepare(name, work)
    env = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "MTSWEEP_CACHE": str(tmp_path_factory.mktemp("cache")),
        "MPLBACKEND": "Agg",
    }
    subprocess.run(
        [sys.executable, "-c", inspect.cleandoc(RUNNER), *map(str, works.values())],
        cwd=tmp_path_factory.getbasetemp(),
        env=env,
        timeout=300,
        check=True,
    )
    done = {}
    for name, work in works.items():
        status = work / "status.txt"
        code = int(status.read_text()) if status.exists() else -1
        log = work / "log.txt"
        done[name] = (code, log.read_text() if log.exists() else "")
    return done


@pytest.mark.parametrize("name", EXPECTED)
def test_worked_example_runs(name, example_runs):
    code, out = example_runs[name]
    assert code == 0, f"example {name!r} of docs/extending.md failed:\n{out}"
    assert "passed" in out
