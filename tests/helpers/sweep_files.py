"""Sweep YAML files for tests: the tiny 9-trial grid, or any sweep, with changes written in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from sweeps.definition import load_sweep

TINY_SWEEP = Path(__file__).parents[1] / "data" / "tiny-pairs.yaml"


def write_sweep(
    out_dir: Path, base: str | Path = TINY_SWEEP, changes: dict[str, Any] | None = None
) -> Path:
    """A copy of sweep ``base`` (built-in name or path) with dotted-path ``changes`` set.

    ``{"name": "one-model", "models": {"list": [{"train": "d"}]},
    "presets.smoke.train.epochs": 1}`` renames the sweep, replaces its models and sets one
    training value; the file is named after the sweep.
    """
    source = Path(base) if Path(base).exists() else load_sweep(str(base)).source
    raw = yaml.safe_load(Path(source).read_text())
    for dotted, value in (changes or {}).items():
        node = raw
        *parents, last = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    path = Path(out_dir) / f"{raw['name']}.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path
