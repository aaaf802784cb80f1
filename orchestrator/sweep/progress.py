"""Live progress of a sweep: done / running / failed / pending, elapsed time and an ETA."""

from __future__ import annotations

import logging
import time
from collections import Counter

log = logging.getLogger("mtsweep.progress")


def format_duration(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Progress:
    """Counts trial states and reports them at most every ``every`` seconds."""

    def __init__(self, total: int, already_done: int = 0, every: float = 10.0):
        self.total = total
        self.already_done = already_done
        self.every = every
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
        line = self.line(now)
        log.info(line)
        return line

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        done = self.states.get("done", 0)
        running = self.states.get("running", 0)
        failed = self.states.get("failed", 0)
        pending = max(self.total - self.already_done - done - running - failed, 0)
        elapsed = now - self.start
        finished_here = done + failed
        remaining = running + pending
        eta = "?"
        if finished_here:
            eta = format_duration(elapsed / finished_here * remaining)
        return (
            f"[{self.already_done + done}/{self.total} done · {running} running · "
            f"{failed} failed · {pending} pending · {format_duration(elapsed)} elapsed · "
            f"ETA {eta}]"
        )
