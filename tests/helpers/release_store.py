"""Release 0.1.0's MLflow store: one finished tiny-pairs trial, readable without running Ray."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

STORE = Path(__file__).parents[1] / "sweeps" / "data" / "release-0.1.0-store.db.gz"


def unpack_release_store(out: Path) -> str:
    """The store as ``out/mlflow.db`` (``out`` created); returns its tracking URI."""
    out.mkdir(parents=True, exist_ok=True)
    with gzip.open(STORE) as src, open(out / "mlflow.db", "wb") as dst:
        shutil.copyfileobj(src, dst)
    return f"sqlite:///{out / 'mlflow.db'}"
