"""The one exception the dataset readers raise for unusable files.

A ``ValueError`` subclass so callers that already treat bad input as ``ValueError`` keep
working; the CLI turns it into a single line and exit code 2. Every message names the
offending file or folder and says what to do about it.
"""

from __future__ import annotations


class DataError(ValueError):
    """A data file or folder that is missing, corrupt or in the wrong format."""
