"""Failure drills: a ``before_trial`` hook that makes a trial fail on purpose, in a worker.

Pickled by value into Ray workers (they do not import the test tree), it counts attempts
in a marker file in storage, so attempts in different worker processes see one count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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

    def __call__(self, spec: TrialSpec, storage: Path) -> None:
        marker = storage / "faults" / spec.trial_key
        marker.parent.mkdir(parents=True, exist_ok=True)
        seen = int(marker.read_text()) if marker.exists() else 0
        if seen < self.n:
            marker.write_text(str(seen + 1))
            error = InjectedDataError if self.permanent else InjectedFault
            raise error(f"injected fault {seen + 1} of {self.n}")


@dataclass(frozen=True)
class HoldWhile:
    """Hold every trial at its start while file ``marker`` exists (a drill holds the sweep
    still while it breaks something), noting in ``storage/entered/<key>`` when it started."""

    marker: Path

    def __call__(self, spec: TrialSpec, storage: Path) -> None:
        import time

        entered = storage / "entered" / spec.trial_key
        entered.parent.mkdir(parents=True, exist_ok=True)
        entered.write_text(repr(time.time()))
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

    def __call__(self, spec: TrialSpec, storage: Path) -> None:
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
        note = storage / "live_node" / spec.trial_key
        note.parent.mkdir(parents=True, exist_ok=True)
        note.write_text(node)
        if self.then is not None:
            self.then(spec, storage)
