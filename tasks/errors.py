"""The errors the ``tasks`` package raises (all :class:`mtsweep.errors.MtsweepError`)."""

from __future__ import annotations

from mtsweep.errors import MtsweepError


class DataError(MtsweepError):
    """A data file or folder that is missing, corrupt or in the wrong format."""


class LabelError(MtsweepError):
    """A label array that cannot be decoded as its task promises (wrong bit depth or shape)."""


class UnknownTaskError(MtsweepError):
    """A task, dataset or target convention name that the registry does not know."""
