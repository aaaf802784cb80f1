"""``mtsweep prepare`` over a Ray cluster: each chunk of a packed dataset as a Ray task.

The packing itself (:mod:`tasks.packed.write`) knows no Ray; this is one more runner for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray

from tasks.packed.write import Runner, write_chunk


def run_on_ray(out: Path) -> Runner:
    """Chunks as Ray tasks over the cluster Ray is connected to (``out`` and the data
    root must be on storage every node sees)."""
    remote = ray.remote(num_cpus=1, max_retries=2)(write_chunk)

    def run(jobs):
        readers: dict[int, Any] = {}
        pending = []
        for chunk, reader, arrays in jobs:
            ref = readers.setdefault(id(reader), ray.put(reader))
            pending.append(remote.remote(out, chunk, ref, arrays))
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])[0]

    return run
