"""Results waiting for the tracking store: queued on the driver's disk while it is down.

When MLflow does not answer, the recorder must not hold up Tune's loop (no new trial would
start) nor drop what finished. It writes each finished result, or final failure, into
``<out>/outbox/<trial_key>.json`` and keeps scheduling; the queue is recorded when the
store answers again — during the run, at its end, or at the next run — and each entry is
removed only after its run was recorded. Recording is idempotent (the tracker reads before
it writes), so an entry recorded twice after a crash still leaves one run, one history.

The out directory is the driver's own (the lease keeps it so), but an entry is still read
back as untrusted data: a garbled one is set aside and named, never recorded.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from mtsweep.atomic import replace_atomically
from orchestrator.sweep.tracking import Tracker
from orchestrator.trial.result import KeptResultError, TrialResult
from sweeps.spec import TrialSpec

log = logging.getLogger(__name__)

OUTBOX_DIR = "outbox"
RESULT, FAILURE = "result", "failure"


class Outbox:
    """The queue of one sweep's unrecorded results, under ``out/outbox``."""

    def __init__(self, out: Path):
        self.dir = Path(out) / OUTBOX_DIR

    def _path(self, trial_key: str) -> Path:
        return self.dir / f"{trial_key}.json"

    def put_result(self, result: TrialResult) -> None:
        """Queue a finished result (it replaces a failure queued for the same trial)."""
        entry = {"kind": RESULT, "result": result.to_json()}
        self._write(result.trial_key, entry)

    def put_failure(self, trial_key: str, message: str, traceback_text: str) -> None:
        """Queue a final failure, unless a result of the trial is already queued."""
        if self._read(trial_key).get("kind") == RESULT:
            return
        entry = {"kind": FAILURE, "message": message, "traceback": traceback_text}
        self._write(trial_key, entry)

    def _write(self, trial_key: str, entry: dict[str, Any]) -> None:
        replace_atomically(self._path(trial_key), lambda tmp: tmp.write_text(json.dumps(entry)))

    def _read(self, trial_key: str) -> dict[str, Any]:
        try:
            raw = json.loads(self._path(trial_key).read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as e:
            raise KeptResultError(f"queued entry {self._path(trial_key)} is garbled ({e})") from e
        return raw if isinstance(raw, dict) else {}

    def keys(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def __len__(self) -> int:
        return len(self.keys())

    def drain(self, tracker: Tracker, specs: dict[str, TrialSpec]) -> int:
        """Record every queued entry of a trial in ``specs``; returns how many were recorded.

        Stops at the first entry the store refuses (it is down again): the rest wait for the
        next drain. Entries of trials this plan does not hold stay queued for their sweep.
        """
        recorded = 0
        for key in self.keys():
            spec = specs.get(key)
            if spec is None:
                continue
            try:
                entry = self._read(key)
                if entry.get("kind") == RESULT:
                    result = TrialResult.from_json(str(entry.get("result")), trial_key=key)
                    tracker.log_result(spec, result)
                elif entry.get("kind") == FAILURE:
                    tracker.log_failure(
                        spec, str(entry.get("message", "")), str(entry.get("traceback", ""))
                    )
                else:
                    raise KeptResultError(f"queued entry {self._path(key)} has no known kind")
            except KeptResultError as e:
                log.error("%s; set aside, the trial runs again", e)
                os.replace(self._path(key), self._path(key).with_suffix(".bad"))
                continue
            self._path(key).unlink(missing_ok=True)
            recorded += 1
        if recorded:
            log.info("recorded %d result(s) queued while MLflow was unreachable", recorded)
        return recorded
