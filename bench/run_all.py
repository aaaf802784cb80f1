"""Run every benchmark in bench/ (each prints JSON and appends a row to BENCHMARKS.md)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


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
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
