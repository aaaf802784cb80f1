"""Failure paths of the driver, unit by unit, against a real SQLite MLflow store.

The driver lease, the outbox, exactly-once recording when a write or a create response is
lost (a real MLflow client whose method fails once: fault injection, not a mock), a
forged kept result, and the version and data tags a resume compares.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from mlflow.exceptions import MlflowException

from mtsweep.shared_storage import SharedStorage
from orchestrator.cli import main
from orchestrator.sweep.lease import LEASE_FILE, DriverLease, LeaseHeldError
from orchestrator.sweep.lifecycle import _mark_interrupted, _note_changes
from orchestrator.sweep.mlflow_schema import GIT_COMMIT_TAG, VERSION_TAG
from orchestrator.sweep.mlflow_store import TrackingError, create_sqlite_store, empty_store
from orchestrator.sweep.outbox import Outbox
from orchestrator.sweep.provenance import code_version
from orchestrator.sweep.recorder import ingest_kept_results
from orchestrator.sweep.tracking import Tracker
from orchestrator.trial.result import TrialResult, kept_key
from orchestrator.trial.setup import pick_device
from sweeps.definition import load_sweep
from tests.helpers.sweep_files import TINY_SWEEP

SPECS = load_sweep(str(TINY_SWEEP)).expand("smoke")
SPEC = SPECS[0]


def _result(spec=SPEC, epochs: int = 2) -> TrialResult:
    return TrialResult(
        trial_key=spec.trial_key,
        metrics={f"clean/{spec.main_tasks[0]}/l1": 0.5},
        train_loss=[1.0 - 0.1 * i for i in range(epochs)],
        resumed_from_epoch=0,
        time={"train_s": 1.0, "attack_s": 1.0, "total_s": 2.0, "ended_unix": 1.7e9},
        artifacts={"prediction.png": "iVBORw0KGgo="},
    )


@pytest.fixture
def tracker(tmp_path) -> Tracker:
    return Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", "tiny-pairs", "smoke")


def test_a_new_store_is_a_private_copy_of_an_empty_one_at_mlflows_schema(tmp_path):
    import sqlite3

    from alembic.script import ScriptDirectory
    from mlflow.store.db.utils import _get_alembic_config

    first, second = (tmp_path / name / "mlflow.db" for name in ("a", "b"))
    for db in (first, second):
        create_sqlite_store(f"sqlite:///{db}")
    empty = empty_store()
    assert first.read_bytes() == second.read_bytes() == empty.read_bytes()
    head = ScriptDirectory.from_config(_get_alembic_config("sqlite://")).get_current_head()
    with sqlite3.connect(first) as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [(head,)]
    one = Tracker(f"sqlite:///{first}", "tiny-pairs", "smoke")
    one.client.create_run(one.experiment_id)
    assert second.read_bytes() == empty.read_bytes()  # copies share nothing
    two = Tracker(f"sqlite:///{second}", "tiny-pairs", "smoke")
    assert two.client.search_runs([two.experiment_id]) == []


def _runs(tracker: Tracker, key: str) -> list:
    return tracker.client.search_runs(
        [tracker.experiment_id], filter_string=f"tags.`mtsweep.trial_key` = '{key}'"
    )


def _steps(tracker: Tracker, run_id: str) -> list[int]:
    return [m.step for m in tracker.client.get_metric_history(run_id, "train/loss")]


# ---------------------------------------------------------------- the lease
def _lease(out: Path, **fields) -> None:
    out.mkdir(parents=True, exist_ok=True)
    record = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time()}
    record |= {"heartbeat": time.time(), "token": "theirs", **fields}
    (out / LEASE_FILE).write_text(json.dumps(record))


def test_second_driver_is_refused_naming_the_holder(tmp_path, capsys):
    out = tmp_path / "run"
    with DriverLease(out):
        code = main(["run", str(TINY_SWEEP), "--out", str(out), "--no-reduce"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"pid {os.getpid()}" in err and "another mtsweep driver" in err
    assert not (out / "mlflow.db").exists() and not (out / "sweep.json").exists()
    assert not (out / LEASE_FILE).exists()  # released by its holder


def test_a_dead_holders_lease_is_taken_over(tmp_path, caplog):
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    _lease(tmp_path, pid=int(gone.stdout))
    with caplog.at_level(logging.WARNING), DriverLease(tmp_path) as lease:
        assert json.loads((tmp_path / LEASE_FILE).read_text())["token"] == lease.me["token"]
    assert "took over" in caplog.text and "is gone" in caplog.text


def test_an_expired_heartbeat_is_taken_over_a_fresh_one_is_not(tmp_path, caplog):
    _lease(tmp_path, host="other-host", heartbeat=time.time() - 600)
    with caplog.at_level(logging.WARNING), DriverLease(tmp_path, ttl_s=60):
        pass
    assert "last heartbeat" in caplog.text
    _lease(tmp_path, host="other-host")
    with pytest.raises(LeaseHeldError, match="host other-host"):
        DriverLease(tmp_path, ttl_s=60).acquire()


def test_the_heartbeat_renews_the_lease(tmp_path):
    with DriverLease(tmp_path, heartbeat_s=0.05):
        first = json.loads((tmp_path / LEASE_FILE).read_text())["heartbeat"]
        time.sleep(0.3)
        later = json.loads((tmp_path / LEASE_FILE).read_text())["heartbeat"]
    assert later > first


# ---------------------------------------------------------------- exactly once
class FailOnce:
    """Wrap one method of a real MLflow client: the first call fails (after doing its
    work, when ``after`` is set: a lost response), later calls go through."""

    def __init__(self, client, name: str, after: bool = False):
        self.real, self.after, self.calls = getattr(client, name), after, 0
        setattr(client, name, self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls == 1:
            if self.after:
                self.real(*args, **kwargs)
            raise MlflowException("injected: connection reset")
        return self.real(*args, **kwargs)


def test_a_partly_logged_result_logged_again_keeps_one_history(tracker, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)  # the tracker's back-off
    FailOnce(tracker.client, "set_terminated")
    FailOnce(tracker.client, "set_terminated")  # both of _retrying's attempts fail
    with pytest.raises(MlflowException):
        tracker.log_result(SPEC, _result())  # metrics in, FINISHED lost: the driver died
    (run,) = _runs(tracker, SPEC.trial_key)
    assert run.info.status == "RUNNING" and _steps(tracker, run.info.run_id) == [0, 1]
    later = Tracker(tracker.uri, "tiny-pairs", "smoke")  # the next driver
    later.log_result(SPEC, _result())
    (run,) = _runs(later, SPEC.trial_key)
    assert run.info.status == "FINISHED"
    assert _steps(later, run.info.run_id) == [0, 1]  # not [0, 1, 0, 1]


def test_a_lost_create_response_leaves_one_run(tracker, monkeypatch):
    monkeypatch.setattr(time, "sleep", lambda s: None)
    injected = FailOnce(tracker.client, "create_run", after=True)
    tracker.log_result(SPEC, _result())
    assert injected.calls == 1  # found by its key: not created again
    (run,) = _runs(tracker, SPEC.trial_key)
    assert run.info.status == "FINISHED"


def test_a_create_retried_by_the_http_layer_leaves_one_run(tracker):
    real = tracker.client.create_run

    def created_twice(*args, **kwargs):  # the POST committed, its retry committed again
        real(*args, **kwargs)
        return real(*args, **kwargs)

    tracker.client.create_run = created_twice
    tracker.log_result(SPEC, _result())
    runs = [r for r in _runs(tracker, SPEC.trial_key) if r.info.lifecycle_stage == "active"]
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"


def test_an_interrupt_while_mlflow_fails_is_told_in_one_line(tracker, monkeypatch, caplog):
    """The driver stops; marking its running trials fails: a warning, no exception, and the
    runs stay RUNNING (a resume reuses them). When MLflow answers, they are marked KILLED."""
    monkeypatch.setattr(time, "sleep", lambda s: None)
    running, other = SPECS[0], SPECS[1]
    tracker.start_run(running, {})
    tracker.start_run(other, {})
    real = tracker.client.set_terminated

    def refused(*args, **kwargs):
        raise MlflowException("database is locked")

    tracker.client.set_terminated = refused
    keys = {running.trial_key, other.trial_key}
    with pytest.raises(TrackingError, match="0 running trial.s. marked interrupted"):
        tracker.end_open_runs(keys)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="mtsweep"):
        _mark_interrupted(tracker, keys)
    (told,) = [r.getMessage() for r in caplog.records if r.name == "mtsweep"]
    assert "database is locked" in told and "the same command resumes them" in told
    assert {_runs(tracker, k)[0].info.status for k in keys} == {"RUNNING"}

    tracker.client.set_terminated = real
    assert tracker.end_open_runs(keys | {"never-started"}) == sorted(keys)
    assert {_runs(tracker, k)[0].info.status for k in keys} == {"KILLED"}


# ---------------------------------------------------------------- kept results are data
def test_forged_kept_results_are_not_recorded_nor_written_outside(tmp_path, tracker, caplog):
    storage = SharedStorage(tmp_path / "storage")
    escape = tmp_path / "escaped.txt"
    forged = json.loads(_result(SPECS[0]).to_json())
    forged["artifacts"] = {"../../escaped.txt": "aGVsbG8="}
    other = json.loads(_result(SPECS[2]).to_json())  # a result of another trial
    for spec, raw in ((SPECS[0], forged), (SPECS[1], other), (SPECS[2], "{not json")):
        text = raw if isinstance(raw, str) else json.dumps(raw)
        storage.write_bytes(kept_key(spec.trial_key), text.encode())
    with caplog.at_level(logging.WARNING):
        assert ingest_kept_results(tracker, SPECS[:3], storage, set()) == set()
    assert not escape.exists() and not list(tmp_path.rglob("escaped.txt"))
    assert tracker.snapshot().trials == {}  # all three stay pending: they run again
    assert "plain file name" in caplog.text and "not " + SPECS[1].trial_key in caplog.text


# ---------------------------------------------------------------- the outbox
def test_outbox_records_once_and_a_result_beats_a_failure(tmp_path, tracker):
    box = Outbox(tmp_path)
    box.put_failure(SPEC.trial_key, "RuntimeError: boom", "trace")
    box.put_result(_result())
    box.put_failure(SPEC.trial_key, "late failure", "")  # does not replace the result
    other = SPECS[1]
    box.put_failure(other.trial_key, "RuntimeError: boom", "trace")
    specs = {s.trial_key: s for s in SPECS}
    assert box.drain(tracker, specs) == 2 and len(box) == 0
    (run,) = _runs(tracker, SPEC.trial_key)
    assert run.info.status == "FINISHED" and _steps(tracker, run.info.run_id) == [0, 1]
    (failed,) = _runs(tracker, other.trial_key)
    assert failed.info.status == "FAILED"
    box.put_result(_result())  # queued again after a crash before its removal
    box.drain(tracker, specs)
    (again,) = _runs(tracker, SPEC.trial_key)
    assert again.info.run_id == run.info.run_id and _steps(tracker, run.info.run_id) == [0, 1]


def test_a_garbled_outbox_entry_is_set_aside(tmp_path, tracker):
    box = Outbox(tmp_path)
    box.dir.mkdir()
    (box.dir / f"{SPEC.trial_key}.json").write_text('{"kind": "result", "result": "{}"}')
    assert box.drain(tracker, {SPEC.trial_key: SPEC}) == 0
    assert tracker.snapshot().trials == {} and (box.dir / f"{SPEC.trial_key}.bad").exists()


# ---------------------------------------------------------------- GPU hygiene
def test_a_trial_booked_without_gpu_uses_the_cpu():
    assert pick_device(0.0) == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device(None) == torch.device("cpu")


# ---------------------------------------------------------------- versions and data
def test_runs_carry_the_code_version_and_a_resume_under_another_says_so(tracker, caplog):
    tags = code_version()
    assert tags[VERSION_TAG] and GIT_COMMIT_TAG in tags  # the tests run from a checkout
    old = Tracker(
        tracker.uri,
        "tiny-pairs",
        "smoke",
        run_tags={VERSION_TAG: "0.0.1", GIT_COMMIT_TAG: "0" * 40},
    )
    old.log_result(SPEC, _result())
    (run,) = _runs(tracker, SPEC.trial_key)
    assert run.data.tags[VERSION_TAG] == "0.0.1"
    with caplog.at_level(logging.WARNING):
        _note_changes(tracker.snapshot(), {SPEC.trial_key}, tags)
    assert "0.0.1" in caplog.text and tags[VERSION_TAG] in caplog.text
    assert "--rerun" in caplog.text


# ---------------------------------------------------------------- pre-flight from workers
@pytest.mark.slow  # Ray tasks on the workers: its file is handed out first (tests/conftest.py)
def test_every_node_sees_the_storage(tmp_path, ray_local):
    from orchestrator.sweep.plan import Request, make_plan
    from orchestrator.sweep.preflight import check_from_workers

    plan = make_plan(Request(sweep=str(TINY_SWEEP)), out=tmp_path / "run")
    check_from_workers(plan)  # one live node here: it reads the driver's probe file
    assert not [k for k in plan.storage.keys() if ".probe-" in k]
