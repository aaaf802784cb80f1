"""Where a sweep's MLflow store lives: the default SQLite file in ``--out``, or a server.

A SQLite store is created whole (migrated under a temporary name, then renamed) and keeps
its artifacts next to the database; reading commands never create one.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from mlflow.tracking import MlflowClient

SQLITE = "sqlite:///"
DB_NAME = "mlflow.db"


def default_tracking_uri(out_dir: Path) -> str:
    return f"{SQLITE}{(out_dir / DB_NAME).resolve()}"


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a SQLite tracking URI; None for a server or another store."""
    if not tracking_uri.startswith(SQLITE):
        return None
    return Path(tracking_uri.removeprefix(SQLITE)).resolve()


def store_exists(tracking_uri: str) -> bool:
    """Whether a store is there to read: a SQLite file that exists, or any server URI."""
    db = sqlite_path(tracking_uri)
    return db is None or db.is_file()


def create_sqlite_store(tracking_uri: str) -> None:
    """Create a new SQLite store whole: migrated under a temporary name, then renamed.

    MLflow creates the database file first and its tables after; a reader that opens the
    file in between (``mtsweep status`` during a run's start) would migrate it a second
    time and fail. Renaming a finished database into place leaves no such window.
    """
    db = sqlite_path(tracking_uri)
    if db is None or db.exists():
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    MlflowClient(tracking_uri=f"{SQLITE}{tmp}").search_experiments(max_results=1)
    if not db.exists():
        os.replace(tmp, db)
    else:
        tmp.unlink(missing_ok=True)


def local_artifact_location(tracking_uri: str) -> str | None:
    """Artifacts of a SQLite store go next to its database, not into the caller's cwd.

    MLflow's default for a database store is ``./mlruns`` relative to wherever the
    driver was started; a server (http URI) serves its own artifacts, so it gets None.
    """
    db = sqlite_path(tracking_uri)
    return None if db is None else (db.parent / "mlartifacts").as_uri()


def quiet_libraries() -> None:
    """Libraries that log routine chatter at INFO (migrations, links, Ray start-up)."""
    for name in ("alembic", "mlflow", "ray", "urllib3", "matplotlib", "PIL"):
        logging.getLogger(name).setLevel(logging.WARNING)
