"""``mtsweep prepare`` over a Ray cluster: each chunk of a packed dataset as a Ray task.

The packing itself (:mod:`tasks.packed.write`) knows no Ray; this is one more runner for it.
Tasks decode (the CPU-bound part, on any node that sees the data root) and send the
chunk's arrays back; this process writes them into the packed directory, which therefore
needs to be on no other node (a local staging directory for ``--to s3://…`` serves).
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import ray

from tasks.packed.write import Runner, decode_chunk, store_chunk

IN_FLIGHT_PER_CPU = 2  # decoded chunks waiting to be written stay bounded


def run_on_ray(out: Path) -> Runner:
    """Chunks decoded by Ray tasks over the cluster Ray is connected to (the data root must
    be on storage every node sees), written here into ``out``."""
    remote = ray.remote(num_cpus=1, max_retries=2)(decode_chunk)

    def run(jobs):
        limit = max(2, IN_FLIGHT_PER_CPU * int(ray.cluster_resources().get("CPU", 1)))
        readers: dict[int, Any] = {}
        arrays_of = {}
        queue, pending = deque(jobs), []
        while queue or pending:
            while queue and len(pending) < limit:
                chunk, reader, arrays = queue.popleft()
                if id(reader) not in readers:
                    readers[id(reader)] = ray.put(reader)
                arrays_of[chunk] = arrays
                pending.append(remote.remote(chunk, readers[id(reader)], arrays))
            done, pending = ray.wait(pending, num_returns=1)
            decoded = ray.get(done[0])
            yield store_chunk(out, arrays_of.pop(decoded.chunk), decoded)

    return run
