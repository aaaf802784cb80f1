"""Where a sweep's MLflow store lives: the default SQLite file in ``--out``, or a server.

A SQLite store is created whole (a copy of an empty migrated store, renamed into place) and
keeps its artifacts next to the database; reading commands never create one.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from mtsweep.cache import cache_home
from mtsweep.errors import MtsweepError

SQLITE = "sqlite:///"
DB_NAME = "mlflow.db"

# MLflow's own HTTP retries default to 7 with backoff factor 2 and a 120 s timeout: about
# four minutes per call before mtsweep sees a failure. These bound one client call to about
# half a minute (3 tries of at most 8 s, 1-2 s apart), and the tracker's own retry of it to
# about a minute, after which the recorder queues results on disk and keeps scheduling.
# A user's own setting of any of them wins.
HTTP_RETRY_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "8",
    # The client prints a "View run … at" link per finished run to stdout; a sweep's output
    # is the driver's own progress and summary (the links are in the MLflow UI).
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}
# Schemes MLflow can track to; anything else is a typo, refused before anything is written.
TRACKING_SCHEMES = ("sqlite", "http", "https", "file", "postgresql", "mysql", "mssql")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class TrackingError(MtsweepError):
    """A tracking URI that is malformed, of an unknown kind, or not answering."""


def bound_http_retries() -> None:
    """Bound how long one MLflow HTTP call may retry (see HTTP_RETRY_ENV)."""
    for name, value in HTTP_RETRY_ENV.items():
        os.environ.setdefault(name, value)


def redact(uri: str) -> str:
    """The URI without a password in its user-info, for messages and logs."""
    return re.sub(r"//([^/@:]*):[^/@]*@", r"//\1:***@", uri)


def check_tracking_uri(uri: str, timeout: float = 5.0) -> None:
    """Refuse an unknown scheme, a SQLite path under a file, or a server that does not answer.

    A server counts as answering when it sends any HTTP response to ``/health`` (also 401:
    authentication is checked by the first real call); nothing is created anywhere.
    """
    match = _SCHEME.match(uri)
    scheme = (match.group(1).split("+")[0].lower()) if match else "file"
    if scheme not in TRACKING_SCHEMES:
        raise TrackingError(
            f"--tracking-uri {redact(uri)}: unknown scheme {scheme!r}; use sqlite:///PATH, "
            "http(s)://HOST:PORT or a database URI"
        )
    db = sqlite_path(uri)
    if db is not None:
        parent = next((p for p in (db, *db.parents) if p.exists()), None)
        if db.is_dir() or (parent is not None and parent != db and not parent.is_dir()):
            raise TrackingError(f"--tracking-uri {redact(uri)}: {parent} is not a directory")
        return
    if scheme in ("http", "https"):
        reason = server_down_reason(uri, timeout)
        if reason is not None:
            raise TrackingError(
                f"MLflow server at {redact(uri)} does not answer ({reason}); start it or fix "
                "--tracking-uri"
            )


def server_down_reason(uri: str, timeout: float = 5.0) -> str | None:
    """None when the tracking server at ``uri`` answers ``/health`` at all, else why not.

    One plain request with a short timeout and no retries: cheap enough to ask while a
    recorder waits for a server to come back.
    """
    if sqlite_path(uri) is not None or not uri.startswith(("http://", "https://")):
        return None
    try:
        bare = re.sub(r"//[^/@]*@", "//", uri.rstrip("/"))  # credentials go in MLflow's env
        with urllib.request.urlopen(f"{bare}/health", timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None  # it answered (e.g. 401 behind auth): it is up
    except (OSError, ValueError) as e:
        return str(getattr(e, "reason", e))


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
    """Create a new SQLite store whole: a copy of an empty migrated store, renamed into place.

    MLflow creates the database file first and its tables after; a reader that opens the
    file in between (``mtsweep status`` during a run's start) would migrate it a second
    time and fail. Renaming a finished database into place leaves no such window.
    """
    db = sqlite_path(tracking_uri)
    if db is None or db.exists():
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    shutil.copyfile(empty_store(), tmp)
    if not db.exists():
        os.replace(tmp, db)
    else:
        tmp.unlink(missing_ok=True)


def empty_store() -> Path:
    """An empty SQLite store at this MLflow's schema, made once per MLflow version in the
    cache (:mod:`mtsweep.cache`): MLflow brings a new database to its schema through every
    alembic revision (seconds); a copy takes milliseconds. Its one experiment is MLflow's
    "Default", which no sweep uses (each has its own, with artifacts next to the database).
    """
    import mlflow
    from mlflow.tracking import MlflowClient

    path = cache_home() / "mlflow" / f"empty-{mlflow.__version__}.db"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        MlflowClient(tracking_uri=f"{SQLITE}{tmp}").search_experiments(max_results=1)
        os.replace(tmp, path)  # two processes making it at once each rename a whole one
    return path


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
