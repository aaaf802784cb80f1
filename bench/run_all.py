"""Run every benchmark in bench/ (each prints JSON and appends a row to BENCHMARKS.md),
then ``mtsweep estimate`` of every paper preset on this machine."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
# (sweep, preset) whose cost `mtsweep estimate` records: every paper preset.
ESTIMATES = (
    ("taskonomy-pairs", "paper"),
    ("taskonomy-multitask-attack", "paper"),
    ("cityscapes-single-task-attack", "paper"),
    ("cityscapes-multitask-attack", "paper"),
    ("cityscapes-adversarial-training", "paper"),
    ("output-dimensionality", "paper"),
)


def record_estimates() -> bool:
    """Each paper preset's estimate, timed here, as a row under "Cost estimates"."""
    from record import record

    ok = True
    for sweep, preset in ESTIMATES:
        cmd = ["mtsweep", "estimate", sweep, "--preset", preset, "--steps", "1"]
        run = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", *cmd[1:]],
            cwd=HERE.parent,
            capture_output=True,
            text=True,
        )
        print(run.stdout, end="", flush=True)
        if run.returncode:
            print(run.stderr, file=sys.stderr)
            ok = False
            continue
        lines = run.stdout.strip().splitlines()
        sweep_line = next(line for line in lines if line.startswith("sweep:"))
        steps = [line.strip() for line in lines if "/step" in line]
        # a CPU too small for the preset's batches: the batches the steps were timed at
        steps += [line.strip(" ()") for line in lines if "timed at batch" in line]
        record(
            "Cost estimates",
            " ".join(cmd),
            {"sweep": f"{sweep}/{preset}", "estimate": sweep_line, "timed_on": lines[1]},
            note="; ".join(steps),
        )
    return ok


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        t0 = time.perf_counter()
        print(f"== {script.name}", flush=True)
        code = subprocess.call(
            [sys.executable, str(script.relative_to(HERE.parent))], cwd=HERE.parent
        )
        print(f"== {script.name}: exit {code} in {time.perf_counter() - t0:.0f} s", flush=True)
        if code:
            failed.append(script.name)
    if not record_estimates():
        failed.append("estimate")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
