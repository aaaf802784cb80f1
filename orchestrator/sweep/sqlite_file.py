"""A run folder's SQLite MLflow store as a file: its runs read without MLflow, and its
artifact paths following the folder when it moves.

``mtsweep status`` reads a run folder's store many times a day; importing MLflow's client
and its SQLAlchemy store costs seconds, reading a few tables with ``sqlite3`` costs
milliseconds. Only reading commands use ``read_runs``; every trial's record is written
through MLflow (``tracking.Tracker``). The runs come back shaped like MLflow's own
(``run.info.run_id/status/start_time/end_time``, ``run.data.tags/params/metrics``), so the
rules that pick a trial's run apply to both alike.

MLflow keeps absolute artifact paths (``file:///…/mlartifacts``) in the store. When the
folder has moved, ``follow_move`` rewrites the ones under the old folder's ``mlartifacts``
to the new one, so the moved (or copied) folder reads and writes its own artifacts.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    status: str
    start_time: int | None
    end_time: int | None


@dataclass(frozen=True)
class RunData:
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredRun:
    info: RunInfo
    data: RunData


def read_runs(db: Path, experiment: str) -> list[StoredRun] | None:
    """The live (not deleted) runs of ``experiment`` in the SQLite store ``db``; None when
    the store holds no such experiment. The file is opened read-only: nothing is created."""
    con = sqlite3.connect(f"{Path(db).resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT experiment_id FROM experiments WHERE name = ? AND lifecycle_stage = 'active'",
            (experiment,),
        ).fetchone()
        if row is None:
            return None
        live = "WHERE r.experiment_id = ? AND r.lifecycle_stage = 'active'"
        runs = {
            run_id: (RunInfo(run_id, status, start, end), RunData())
            for run_id, status, start, end in con.execute(
                "SELECT run_uuid, status, start_time, end_time FROM runs r "
                f"{live} ORDER BY start_time DESC, run_uuid",  # as MLflow's search orders them
                (row[0],),
            )
        }
        for table, into in (("tags", "tags"), ("params", "params")):
            for key, value, run_id in con.execute(
                f"SELECT t.key, t.value, t.run_uuid FROM {table} t "
                f"JOIN runs r ON r.run_uuid = t.run_uuid {live}",
                (row[0],),
            ):
                getattr(runs[run_id][1], into)[key] = value
        for key, value, is_nan, run_id in con.execute(
            "SELECT t.key, t.value, t.is_nan, t.run_uuid FROM latest_metrics t "
            f"JOIN runs r ON r.run_uuid = t.run_uuid {live}",
            (row[0],),
        ):
            runs[run_id][1].metrics[key] = math.nan if is_nan else float(value)
    finally:
        con.close()
    return [StoredRun(info, data) for info, data in runs.values()]


ARTIFACTS = "mlartifacts"  # beside the database (store.local_artifact_location)


def follow_move(db: Path) -> list[str]:
    """Point the store's artifact paths at ``<db's folder>/mlartifacts`` where they name the
    ``mlartifacts`` of another folder (the folder was moved or copied); the old roots."""
    here = (Path(db).resolve().parent / ARTIFACTS).as_uri()
    con = sqlite3.connect(Path(db).resolve())
    try:
        with con:
            old = sorted(
                {
                    loc.rstrip("/")
                    for (loc,) in con.execute("SELECT artifact_location FROM experiments")
                    if loc
                    and loc.startswith("file://")
                    and loc.rstrip("/").endswith(f"/{ARTIFACTS}")
                    and loc.rstrip("/") != here
                }
            )
            for root in old:
                con.execute(
                    "UPDATE experiments SET artifact_location = ? WHERE artifact_location = ?",
                    (here, root),
                )
                con.execute(
                    "UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
                    "WHERE substr(artifact_uri, 1, ?) = ?",
                    (here, len(root) + 1, len(root) + 1, f"{root}/"),
                )
    finally:
        con.close()
    return old
