"""Whether the trials of a sweep ran with the same software, told in one line.

Each trial's worker records what it ran with (``orchestrator.trial.versions``). Two nodes
with different torch or CUDA can train the same trial to different numbers, so ``mtsweep
status`` warns when the recorded versions differ, naming each package, its versions and how
many trials and nodes ran each. The GPU's name is not compared: a cluster may mix cards.
"""

from __future__ import annotations

from collections.abc import Iterable

# Compared in this order; the others a worker records (the GPU's name) are not.
COMPARED = ("torch", "cuda", "nvidia_driver", "ray", "mlflow", "python", "mtsweep", "commit")


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def version_spread(trials: Iterable[tuple[str | None, dict[str, str]]]) -> str | None:
    """One warning line when ``trials`` — (node, versions) of each trial that recorded
    versions — ran with different versions of a ``COMPARED`` package; None when they agree."""
    seen: dict[str, dict[str, tuple[int, set[str]]]] = {}
    for node, versions in trials:
        for name in COMPARED:
            if name in versions:
                n, nodes = seen.setdefault(name, {}).get(versions[name], (0, set()))
                seen[name][versions[name]] = (n + 1, nodes | {node or "?"})
    parts = []
    for name in COMPARED:
        values = seen.get(name, {})
        if len(values) > 1:
            each = ", ".join(
                f"{value} ({_count(n, 'trial')} on {_count(len(nodes), 'node')})"
                for value, (n, nodes) in sorted(values.items(), key=lambda v: (-v[1][0], v[0]))
            )
            parts.append(f"{name} {each}")
    if not parts:
        return None
    return (
        "warning: the trials ran with different versions: "
        + "; ".join(parts)
        + " (install requirements.lock on every node: make install)"
    )
