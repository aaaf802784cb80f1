"""The project's user-facing error base, and the errors the ``tasks`` package raises.

Every error that means "your input is wrong, here is what to do" derives from
``MtsweepError`` (a ``ValueError``), wherever in the stack it is raised; the CLI turns any
of them into one line on stderr and exit code 2. Bugs keep their traceback.
"""

from __future__ import annotations


class MtsweepError(ValueError):
    """Bad input or a request that cannot be honoured; the message says what to do."""


class DataError(MtsweepError):
    """A data file or folder that is missing, corrupt or in the wrong format."""


class LabelError(MtsweepError):
    """A label array that cannot be decoded as its task promises (wrong bit depth or shape)."""


class UnknownTaskError(MtsweepError):
    """A task, dataset or target convention name that the registry does not know."""
