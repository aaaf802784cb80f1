"""What a trial hands back: the ``TrialResult``, and the copy it keeps in shared storage.

The result travels from the worker to the driver as JSON (through Ray Tune's report) and is
also kept beside the checkpoints (one whole object in shared storage), so a driver that
dies before recording it loses nothing. A kept object lies in storage that other people and
programs can write, so reading one back treats it as untrusted data: every field is checked
against the schema, the trial key must be the one of its key, and artifact names must be
plain file names.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from mtsweep.errors import MtsweepError
from mtsweep.shared_storage import SharedStorage

log = logging.getLogger(__name__)

_METRIC = re.compile(r"^[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+){1,3}$")
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_KEY = re.compile(r"^[0-9a-f]{16}$")
KEPT_DIR = "results"


class KeptResultError(MtsweepError):
    """A kept result file that does not hold a valid result of its trial."""


@dataclass
class TrialResult:
    """A finished trial: final metrics, per-epoch losses, timings, artifacts, placement."""

    trial_key: str
    metrics: dict[str, float]  # '<eval>/<task>/<metric>' (docs/formats.md §1), measures likewise
    train_loss: list[float]  # mean training loss of every epoch
    resumed_from_epoch: int
    time: dict[str, float]  # train_s, attack_s, total_s, started_unix, ended_unix
    artifacts: dict[str, str] = field(default_factory=dict)  # file name → base64 bytes
    placement: dict[str, str] = field(default_factory=dict)  # device, host, ray_node, …

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str, trial_key: str | None = None) -> TrialResult:
        """Parse and check a result; KeptResultError names the first field that is wrong."""
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise KeptResultError(f"not JSON ({e})") from None
        if not isinstance(raw, dict):
            raise KeptResultError("not a JSON object")
        expected = {f for f in cls.__dataclass_fields__}
        unknown = set(raw) - expected
        if unknown:
            raise KeptResultError(f"unknown field(s) {sorted(unknown)}")
        key = raw.get("trial_key")
        if not isinstance(key, str) or not _KEY.match(key):
            raise KeptResultError(f"trial_key {key!r} is not a trial key")
        if trial_key is not None and key != trial_key:
            raise KeptResultError(f"holds trial {key}, not {trial_key}")
        metrics = _numbers(raw.get("metrics"), "metrics")
        bad = [m for m in metrics if not _METRIC.match(m)]
        if bad:
            raise KeptResultError(f"metric name {bad[0]!r} is not '<eval>/<task>/<metric>'")
        losses = raw.get("train_loss")
        if not isinstance(losses, list) or not all(_is_number(v) for v in losses):
            raise KeptResultError("train_loss is not a list of numbers")
        resumed = raw.get("resumed_from_epoch")
        if not isinstance(resumed, int) or isinstance(resumed, bool) or resumed < 0:
            raise KeptResultError("resumed_from_epoch is not a non-negative integer")
        artifacts = raw.get("artifacts", {})
        if not isinstance(artifacts, dict):
            raise KeptResultError("artifacts is not a mapping")
        for name, data in artifacts.items():
            if not isinstance(name, str) or not _FILE_NAME.match(name) or ".." in name:
                raise KeptResultError(f"artifact name {name!r} is not a plain file name")
            try:
                base64.b64decode(data, validate=True)
            except (binascii.Error, TypeError, ValueError):
                raise KeptResultError(f"artifact {name!r} is not base64") from None
        placement = raw.get("placement", {})
        if not isinstance(placement, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in placement.items()
        ):
            raise KeptResultError("placement is not a mapping of strings")
        return cls(
            trial_key=key,
            metrics=metrics,
            train_loss=[float(v) for v in losses],
            resumed_from_epoch=resumed,
            time=_numbers(raw.get("time"), "time"),
            artifacts=dict(artifacts),
            placement=dict(placement),
        )

    def artifact_bytes(self) -> dict[str, bytes]:
        return {name: base64.b64decode(data) for name, data in self.artifacts.items()}


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _numbers(raw: Any, what: str) -> dict[str, float]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and _is_number(v) for k, v in raw.items()
    ):
        raise KeptResultError(f"{what} is not a mapping of names to numbers")
    return {k: float(v) for k, v in raw.items()}


def kept_key(trial_key: str) -> str:
    """Where a trial's result is kept, relative to the storage."""
    return f"{KEPT_DIR}/{trial_key}.json"


def write_kept_result(storage: SharedStorage, result: TrialResult) -> str:
    """Keep the finished result beside the checkpoints, whole, so a driver crash loses
    nothing; its URI."""
    return storage.write_bytes(kept_key(result.trial_key), result.to_json().encode())


def read_kept_result(storage: SharedStorage, trial_key: str) -> TrialResult | None:
    """The kept result of a trial; None when there is none or it is not valid (it re-runs)."""
    where = storage.uri(kept_key(trial_key))
    try:
        data = storage.read_bytes(kept_key(trial_key))
    except OSError as e:
        log.warning("kept result %s cannot be read (%s); the trial runs again", where, e)
        return None
    if data is None:
        return None
    try:
        return TrialResult.from_json(data.decode(), trial_key=trial_key)
    except (KeptResultError, UnicodeDecodeError) as e:
        log.warning("kept result %s is not valid: %s; the trial runs again", where, e)
        return None
