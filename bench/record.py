"""Shared by the benchmarks: describe the machine and append a dated row to BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", GPU {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{os.cpu_count()} CPU ({cpu}){gpu}, Python {platform.python_version()}"


def record(section: str, command: str, numbers: dict[str, Any], note: str = "") -> None:
    """Print the numbers as JSON and append them under ``## section`` in BENCHMARKS.md
    (not for a ``--tiny`` run from the command line: its numbers measure nothing)."""
    print(json.dumps(numbers, indent=2, sort_keys=True))
    if "--tiny" in sys.argv[1:]:
        return
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    header = f"## {section}"
    row = (
        f"\n- {dt.date.today().isoformat()} · `{command}` · {machine()}\n"
        f"  `{json.dumps(numbers, sort_keys=True)}`" + (f"\n  {note}" if note else "") + "\n"
    )
    if header not in text:
        text = text.rstrip() + f"\n\n{header}\n"
        text += row
    else:
        start = text.index(header)
        nxt = text.find("\n## ", start + len(header))
        end = len(text) if nxt == -1 else nxt
        text = text[:end].rstrip() + "\n" + row + text[end:]
    BENCHMARKS.write_text(text)


def command() -> str:
    return " ".join([Path(sys.executable).name] + sys.argv)
