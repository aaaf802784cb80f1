"""The error a reading command raises when a sweep has no results yet; shared by the
writer (``Tracker``) and the readers (``reading``), with no MLflow import."""

from __future__ import annotations

from mtsweep.errors import MtsweepError


class NoResultsError(MtsweepError):
    """A reading command found no store, or no experiment of the sweep in it."""
