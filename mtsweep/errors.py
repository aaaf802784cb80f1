"""The project's user-facing error base, shared by every package.

Every error that means "your input is wrong, here is what to do" derives from
``MtsweepError`` (a ``ValueError``), wherever in the stack it is raised; the CLI turns any
of them into one line on stderr and exit code 2. Bugs keep their traceback.
"""

from __future__ import annotations


class MtsweepError(ValueError):
    """Bad input or a request that cannot be honoured; the message says what to do."""
