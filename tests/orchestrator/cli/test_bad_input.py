"""Every bad input of the reliability review: one line on stderr, exit 2, nothing written.

Each case would otherwise hang (a GPU no node has, ``--num-cpus 0``, a dead tracking
server), fail inside every trial (a data root of the wrong layout), end in a traceback, or
write ``sweep.json``/``mlflow.db`` before failing.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import torch

from orchestrator.cli import main
from tests.helpers.sweep_files import TINY_SWEEP


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name → (argv, a fragment the error line must hold); paths under ``tmp``."""
    out = str(tmp / "o")
    run = ["run", str(TINY_SWEEP), "--out", out, "--no-reduce"]
    a_file = tmp / "a-file"
    wrong_root = tmp / "wrong-root"
    return {
        "gpus-no-node-has": (
            [*run, "--gpus-per-trial", str(torch.cuda.device_count() + 1)],
            "GPU",
        ),
        "gpus-nan": ([*run, "--gpus-per-trial", "nan"], "--gpus-per-trial"),
        "num-cpus-0": ([*run, "--num-cpus", "0"], "--num-cpus"),
        "wrong-data-layout": (
            [*run, "--preset", "paper", "--data-root", str(wrong_root)],
            str(wrong_root),
        ),
        "out-is-a-file": (["run", str(TINY_SWEEP), "--out", str(a_file)], "is a file"),
        "storage-is-a-file": ([*run, "--storage", str(a_file)], "is a file"),
        "storage-uri-with-credentials": (
            [*run, "--storage", "s3://AKIAEXAMPLE:s3cr3t@bucket/x"],
            "credentials do not belong in the URI",
        ),
        "export-to-a-directory": (
            ["export", str(TINY_SWEEP), "--out", out, "--to", str(tmp)],
            "directory",
        ),
        "unknown-tracking-scheme": ([*run, "--tracking-uri", "foo://bar"], "foo"),
        "dead-tracking-server": (
            [*run, "--tracking-uri", f"http://127.0.0.1:{_closed_port()}"],
            "does not answer",
        ),
        "ray-client-address": ([*run, "--address", "ray://127.0.0.1:10001"], "ray://"),
        "synth-negative-seed": (["synth", "taskonomy", "--out", out, "--seed", "-1"], "--seed"),
    }


CASES = sorted(_cases(Path("/x")))


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    argv, fragment = _cases(tmp_path)[case]
    (tmp_path / "a-file").write_text("not a directory")
    (tmp_path / "wrong-root" / "foo").mkdir(parents=True)
    (tmp_path / "wrong-root" / "foo" / "bar.png").write_bytes(b"\x89PNG")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    t0 = time.monotonic()
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own refusals
        code = e.code
    took = time.monotonic() - t0

    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert fragment in err, err
    assert took < 30, f"{case} took {took:.0f} s"
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not list(tmp_path.rglob("sweep.json")) and not list(tmp_path.rglob("mlflow.db"))
