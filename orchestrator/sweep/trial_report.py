"""What a trial tells the driver through Tune besides its epochs and result: where it runs
and with what software (its first report), and when it fails for good; and how an error is
told in one line (the worker reports it, the driver's recorder prints and records it).

The worker imports these names, so this module imports neither MLflow nor Ray.
"""

from __future__ import annotations

# The keys of a trial's first report, sent before it trains: the address of its node, and
# the JSON of the versions it runs with (orchestrator.trial.versions).
NODE_REPORT, VERSIONS_REPORT = "started_on", "ran_with"
# The keys of a trial's report when it failed in a way no retry mends (bad data, a bad
# setting): Tune then ends the trial instead of retrying it.
FAILED_LINE, FAILED_TRACE = "failed_line", "failed_trace"


def error_line(err: BaseException) -> str:
    """An error in one line: its type and the last line of its message."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[-1] if lines else ''}"[:2000]
