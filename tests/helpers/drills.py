"""Failure drills: a ``before_trial`` hook that makes a trial fail on purpose, in a worker.

Pickled by value into Ray workers (they do not import the test tree), it counts attempts
in a marker object in the sweep's shared storage (a directory or a bucket), so attempts in
different worker processes, or on different nodes, see one count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mtsweep.shared_storage import SharedStorage
from sweeps.spec import TrialSpec
from tasks.errors import DataError


class InjectedFault(RuntimeError):
    """The failure a drill raises: one a retry may mend."""


class InjectedDataError(DataError):
    """The failure a drill raises when it stands for bad data: no retry mends it."""


@dataclass(frozen=True)
class FailFirstAttempts:
    """Fail the first ``n`` attempts of every trial, then let it run (``permanent``: with
    an error that cannot go away on a retry)."""

    n: int
    permanent: bool = False

    def __call__(self, spec: TrialSpec, storage: SharedStorage) -> None:
        marker = f"faults/{spec.trial_key}"
        seen = int(storage.read_bytes(marker) or b"0")
        if seen < self.n:
            storage.write_bytes(marker, str(seen + 1).encode())
            error = InjectedDataError if self.permanent else InjectedFault
            raise error(f"injected fault {seen + 1} of {self.n}")


@dataclass(frozen=True)
class HoldWhile:
    """Hold every trial at its start while file ``marker`` exists (a drill holds the sweep
    still while it breaks something), noting in ``storage/entered/<key>`` when it started."""

    marker: Path

    def __call__(self, spec: TrialSpec, storage: SharedStorage) -> None:
        import time

        storage.write_bytes(f"entered/{spec.trial_key}", repr(time.time()).encode())
        while self.marker.exists():
            time.sleep(0.2)


@dataclass(frozen=True)
class NoteLiveNode:
    """Wait (up to ``wait_s``) until the trial's live MLflow run names its node, note what
    it says in ``storage/live_node/<key>``, then run drill ``then``: proves the node is known
    while the trial runs, before it trains."""

    tracking_uri: str
    then: FailFirstAttempts | None = None
    wait_s: float = 30.0

    def __call__(self, spec: TrialSpec, storage: SharedStorage) -> None:
        import time

        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking_uri)
        node, deadline = "", time.monotonic() + self.wait_s
        while not node and time.monotonic() < deadline:
            runs = client.search_runs(
                [e.experiment_id for e in client.search_experiments()],
                filter_string=f"tags.`mtsweep.trial_key` = '{spec.trial_key}'",
            )
            node = next((r.data.tags.get("mtsweep.node", "") for r in runs), "")
            time.sleep(0.2)
        storage.write_bytes(f"live_node/{spec.trial_key}", node.encode())
        if self.then is not None:
            self.then(spec, storage)
