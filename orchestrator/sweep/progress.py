"""Live progress of a sweep: done / running / failed / pending, elapsed time and an ETA.

Each report is logged as one line and, for the Python API, handed to a listener as a
``ProgressReport`` (a notebook can draw its own bar from it).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("mtsweep.progress")


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


@dataclass(frozen=True)
class ProgressReport:
    """One progress report of a running sweep (trials counted over the whole sweep)."""

    done: int
    running: int
    failed: int
    pending: int
    total: int
    elapsed_s: float
    eta_s: float | None  # None until a trial has ended in this run
    line: str  # the same report as the driver logs it


class Progress:
    """Counts trial states and reports them at most every ``every`` seconds."""

    def __init__(
        self,
        total: int,
        already_done: int = 0,
        every: float = 10.0,
        listener: Callable[[ProgressReport], None] | None = None,
    ):
        self.total = total
        self.already_done = already_done
        self.every = every
        self.listener = listener
        self.start = time.monotonic()
        self.last = 0.0
        self.states: Counter[str] = Counter()

    def update(self, states: Counter[str], force: bool = False) -> str | None:
        """Record the scheduler's counts; returns the line when one was emitted."""
        self.states = states
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return None
        self.last = now
        report = self.report(now)
        log.info(report.line)
        if self.listener is not None:
            self.listener(report)
        return report.line

    def report(self, now: float | None = None) -> ProgressReport:
        now = time.monotonic() if now is None else now
        done = self.states.get("done", 0)
        running = self.states.get("running", 0)
        failed = self.states.get("failed", 0)
        pending = max(self.total - self.already_done - done - running - failed, 0)
        elapsed = now - self.start
        finished_here = done + failed
        eta_s = elapsed / finished_here * (running + pending) if finished_here else None
        eta = "?" if eta_s is None else format_duration(eta_s)
        line = (
            f"[{self.already_done + done}/{self.total} done · {running} running · "
            f"{failed} failed · {pending} pending · {format_duration(elapsed)} elapsed · "
            f"ETA {eta}]"
        )
        return ProgressReport(
            self.already_done + done, running, failed, pending, self.total, elapsed, eta_s, line
        )

    def line(self, now: float | None = None) -> str:
        return self.report(now).line
