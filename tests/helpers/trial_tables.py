"""Hand-built trials-table rows for the reduction tests, and a picture-file check."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

S, D, N = "segment_semantic", "depth_zbuffer", "normal"


def trial_row(main, aux, seed, eval_, metric, value, task=None, **identity) -> dict:
    """One trials-table row; ``identity`` adds model columns (arch, weights as a dict)."""
    row = {
        "trial_key": f"{main}+{aux}/{seed}/{json.dumps(identity, sort_keys=True)}",
        "main_task": main,
        "aux_tasks": aux,
        "seed": seed,
        "eval": eval_,
        "task": task or main,
        "metric": metric,
        "value": value,
    }
    if "weights" in identity:
        identity = {**identity, "weights": json.dumps(identity["weights"])}
    return {**row, **identity}


def fig7_rows(seeds=((0, -1.0), (1, 1.0))) -> list[dict]:
    """3 tasks; seg (miou, higher better) and depth (l1, lower better), per seed a jitter."""
    r = []
    for seed, jitter in seeds:
        r += [
            trial_row(S, "", seed, "clean", "miou", 40.0 + jitter),  # baseline mean 40
            trial_row(S, D, seed, "clean", "miou", 44.0 + jitter),  # +10 %
            trial_row(S, N, seed, "clean", "miou", 38.0 + jitter),  # -5 %
            trial_row(D, "", seed, "clean", "l1", 0.5),
            trial_row(D, S, seed, "clean", "l1", 0.4),  # +20 % (lower is better)
            trial_row(D, N, seed, "clean", "l1", 0.6),  # -20 %
            trial_row(N, "", seed, "clean", "l1", 0.2),
            # normal+segment missing: a failed cell
            trial_row(N, D, seed, "clean", "l1", 0.15),  # +25 %
            trial_row(S, "", seed, "clean", "pixel_acc", 99.0),  # not the primary metric
            trial_row(S, D, seed, "clean", "l1", 7.0, task=D),  # not the main task
        ]
    return r


def is_picture(path: Path, fmt: str = "png", min_bytes: int = 5000) -> bool:
    """A real picture file of the format: PNG checked by decoding, PDF/SVG by their header."""
    data = Path(path).read_bytes()
    if len(data) < min_bytes:
        return False
    if fmt == "png":
        with Image.open(path) as img:
            return img.format == "PNG" and min(img.size) > 100
    return data.startswith(b"%PDF") if fmt == "pdf" else b"<svg" in data[:2000]
