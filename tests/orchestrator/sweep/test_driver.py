"""The driver's pieces without Ray: progress line, out-dir claim and request, live logging."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.cli import main
from orchestrator.sweep.lifecycle import _terminate_as_interrupt
from orchestrator.sweep.mlflow_store import default_tracking_uri
from orchestrator.sweep.parent_run import supersede
from orchestrator.sweep.plan import OutDirError, Request, claim_out_dir, make_plan, read_request
from orchestrator.sweep.progress import Progress
from orchestrator.sweep.recorder import ingest_kept_results
from orchestrator.sweep.tracking import Tracker
from orchestrator.trial.result import TrialResult, kept_key, write_kept_result
from tests.helpers.sweep_files import TINY_SWEEP


@pytest.fixture
def plan(tmp_path):
    return make_plan(Request(sweep=str(TINY_SWEEP), overrides=("train.epochs=3",)), out=tmp_path)


def result_of(spec, loss=(0.9, 0.5, 0.4)) -> TrialResult:
    return TrialResult(
        trial_key=spec.trial_key,
        metrics={f"clean/{spec.main_tasks[0]}/l1": 0.25},
        train_loss=list(loss),
        resumed_from_epoch=0,
        time={"train_s": 1.0, "attack_s": 0.5, "total_s": 1.5, "ended_unix": 1.7e9},
    )


def test_progress_line_counts_every_state():
    progress = Progress(total=10, already_done=3, every=0)
    progress.update(Counter(done=2, running=2, failed=1))
    line = progress.line()
    assert line.startswith("[5/10 done · 2 running · 1 failed · 2 pending")


def test_the_out_dir_records_the_request_and_refuses_another_sweep(plan, tmp_path):
    claim_out_dir(plan)
    again = read_request(tmp_path)
    assert again.sweep == str(TINY_SWEEP) and again.overrides == ("train.epochs=3",)
    assert make_plan(again, out=tmp_path).keys == plan.keys  # the same trials, from the file
    other = make_plan(Request(sweep="output-dimensionality"), out=tmp_path)
    with pytest.raises(OutDirError, match="tiny-pairs"):
        claim_out_dir(other)
    claim_out_dir(other, force=True)
    assert read_request(tmp_path).sweep == "output-dimensionality"


def test_a_rerun_that_asks_for_other_trials_is_refused_in_one_line(plan, tmp_path, capsys):
    claim_out_dir(plan)  # what a run of the plan records before it trains
    argv = ["run", str(TINY_SWEEP), "--out", str(tmp_path), "--no-reduce"]
    assert main([*argv, "--set", "train.epochs=3", "--set", "train.lr=0.01"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--set train.lr=0.01" in err and "--extend" in err and len(err.splitlines()) == 1
    assert main([*argv, "--tasks", "s,d"]) == 2
    err = capsys.readouterr().err
    assert "--tasks s,d (recorded: all)" in err and "without --set train.epochs=3" in err
    recorded = read_request(tmp_path)  # the record is untouched
    assert (recorded.overrides, recorded.tasks) == (("train.epochs=3",), None)


def test_live_epochs_then_the_final_result_log_each_step_once(plan):
    tracker = Tracker(plan.tracking_uri, plan.sweep.name, plan.preset)
    spec = plan.specs[0]
    view = tracker.snapshot()  # the driver's one read; its own writes keep it current
    tracker.start_run(spec, {"node": "127.0.0.1"})
    assert view.states([spec.trial_key]) == {"RUNNING": 1} and view.get(spec.trial_key).node
    for epoch, loss in enumerate((0.9, 0.5)):
        tracker.log_epoch(spec, epoch, loss, epochs=3)
    tracker.log_epoch(spec, 1, 0.5, epochs=3)  # a repeated report (a retried callback)
    run_id = tracker.log_result(spec, result_of(spec))
    assert tracker.log_result(spec, result_of(spec)) is None  # already FINISHED: untouched
    client = MlflowClient(tracking_uri=plan.tracking_uri)
    history = client.get_metric_history(run_id, "train/loss")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.9), (1, 0.5), (2, 0.4)]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["mtsweep.node"] == "127.0.0.1"
    assert run.data.tags["mtsweep.epoch"] == "2/3"
    fresh = tracker.snapshot()
    assert view.states(plan.keys) == fresh.states(plan.keys) == {"FINISHED": 1, "PENDING": 8}
    assert view.get(spec.trial_key).run_id == run_id
    assert supersede(tracker, fresh, [spec], plan.storage) == 1  # --rerun retires the run
    assert fresh.states([spec.trial_key]) == tracker.snapshot().states([spec.trial_key])
    assert fresh.states([spec.trial_key]) == {"PENDING": 1}


def test_kept_results_are_recorded_once_and_garbled_ones_rerun(plan):
    tracker = Tracker(plan.tracking_uri, plan.sweep.name, plan.preset)
    good, garbled = plan.specs[:2]
    write_kept_result(plan.storage, result_of(good))
    plan.storage.write_bytes(kept_key(garbled.trial_key), b'{"trial_key": "not even close"')
    assert ingest_kept_results(tracker, plan.specs, plan.storage, set()) == {good.trial_key}
    assert ingest_kept_results(tracker, plan.specs, plan.storage, {good.trial_key}) == set()
    assert tracker.snapshot().finished_keys() == {good.trial_key}
    assert default_tracking_uri(plan.out) == plan.tracking_uri


def test_sigterm_stops_the_driver_as_ctrl_c_does():
    before = signal.getsignal(signal.SIGTERM)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt), _terminate_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler raises at once
    assert time.monotonic() - started < 4
    assert signal.getsignal(signal.SIGTERM) == before  # put back afterwards
