"""Scheduling overhead: the smoke sweep's wall time against its trials' own compute time.

Runs ``mtsweep run taskonomy-pairs --preset smoke`` (all 121 trials) into a fresh
directory, as a user would, then reads each trial's ``time/total_s`` from its kept result.
With S parallel slots (CPUs / CPUs per trial), a perfect scheduler would finish in
Σ total_s / S; what is left over, divided by the number of trials, is the per-trial cost of
start-up, data, logging and Ray's bookkeeping.
Run as ``.venv/bin/python bench/bench_scheduling.py`` (``--tiny``: one small trial, as the
test suite runs it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from record import command, record

SWEEP, PRESET = "taskonomy-pairs", "smoke"
CPUS_PER_TRIAL = 1
# --tiny: one model (depth alone), one epoch of 48 scenes
TINY = ["--tasks", "d", "--set", "train.epochs=1", "--set", "data.n=48"]


def main(tiny: bool = False) -> None:
    slots = max(1, (os.cpu_count() or 1) // CPUS_PER_TRIAL)
    mtsweep = Path(sys.executable).with_name("mtsweep")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "sweep"
        t0 = time.perf_counter()
        subprocess.run(
            [
                str(mtsweep),
                "run",
                SWEEP,
                "--preset",
                PRESET,
                "--out",
                str(out),
                "--no-reduce",
                "--cpus-per-trial",
                str(CPUS_PER_TRIAL),
                *(TINY if tiny else []),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        wall = time.perf_counter() - t0
        results = [json.loads(p.read_text()) for p in (out / "ray" / "results").glob("*.json")]
    compute = sum(r["time"]["total_s"] for r in results)
    ideal = compute / slots
    record(
        "Scheduling overhead",
        command(),
        {
            "sweep": f"{SWEEP}/{PRESET}",
            "trials": len(results),
            "slots": slots,
            "wall_s": round(wall, 1),
            "sum_trial_compute_s": round(compute, 1),
            "ideal_wall_s": round(ideal, 1),
            # sweep wall time lost per trial, and the same seen by one slot (× slots)
            "overhead_s_per_trial": round((wall - ideal) / max(len(results), 1), 3),
            "slot_overhead_s_per_trial": round((wall - ideal) * slots / max(len(results), 1), 3),
        },
        "wall includes the CLI's start (imports), Ray's start and MLflow recording; "
        "synthetic data cached from earlier runs",
    )


if __name__ == "__main__":
    main(tiny="--tiny" in sys.argv[1:])
