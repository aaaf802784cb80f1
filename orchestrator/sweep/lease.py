"""One driver per sweep store: a lease file in the out directory, kept alive by a heartbeat.

Two drivers on one ``--out`` would both schedule every pending trial, train the same
models twice and race each other's MLflow writes. The lease (``<out>/driver.lease``: host,
pid, start time, heartbeat) is created with ``O_EXCL`` before anything runs; a second
driver finds it and refuses at once, naming the holder. A lease whose holder is gone (same
host, no such process) or whose heartbeat is older than ``ttl`` seconds (a driver on
another host that died, or a host that froze) is taken over, and the log says so.

Taking over is a rename of the stale file to a private name followed by a fresh ``O_EXCL``
create, so of two drivers that judge the same lease stale only one wins; a driver that
renamed away a lease renewed in the meantime puts it back.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from mtsweep.errors import MtsweepError

log = logging.getLogger(__name__)

LEASE_FILE = "driver.lease"
HEARTBEAT_S = 15.0
TTL_S = 120.0  # eight missed heartbeats: the holder is gone


class LeaseHeldError(MtsweepError):
    """Another live driver holds the sweep's lease."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


class DriverLease:
    """The lease of one out directory, held from ``acquire`` to ``release`` (or ``with``)."""

    def __init__(self, out: Path, heartbeat_s: float = HEARTBEAT_S, ttl_s: float = TTL_S):
        self.path = Path(out) / LEASE_FILE
        self.heartbeat_s = heartbeat_s
        self.ttl_s = ttl_s
        self.me = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.time(),
            "token": uuid.uuid4().hex,
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ reading
    def holder(self) -> dict[str, Any] | None:
        """The lease as written now; {} when unreadable (a torn write counts as stale)."""
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {}
        return raw if isinstance(raw, dict) else {}

    def stale_reason(self, holder: dict[str, Any]) -> str | None:
        """Why ``holder`` no longer holds the lease, or None while it does."""
        if not holder:
            return "unreadable lease"
        if holder.get("host") == self.me["host"] and not _alive(int(holder.get("pid", -1))):
            return f"pid {holder.get('pid')} is gone"
        age = time.time() - float(holder.get("heartbeat", 0))
        if age > self.ttl_s:
            return f"last heartbeat {age:.0f} s ago"
        return None

    @staticmethod
    def describe(holder: dict[str, Any]) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
        return f"host {holder.get('host')}, pid {holder.get('pid')}, started {started}"

    # ------------------------------------------------------------ holding
    def _record(self) -> bytes:
        return json.dumps({**self.me, "heartbeat": time.time()}).encode()

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        try:
            os.write(fd, self._record())
            os.fsync(fd)
        finally:
            os.close(fd)
        return True

    def acquire(self) -> DriverLease:
        """Take the lease or raise LeaseHeldError naming its live holder."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            if self._create():
                self._start_heartbeat()
                return self
            holder = self.holder()
            if holder is None:
                continue  # released between our create and our read: try again
            reason = self.stale_reason(holder)
            if reason is None:
                raise LeaseHeldError(
                    f"another mtsweep driver ({self.describe(holder)}) is running this sweep "
                    f"in {self.path.parent}; wait for it to end, or stop it and run again"
                )
            if self._take_over(holder):
                log.warning(
                    "took over the sweep's driver lease from %s (%s)",
                    self.describe(holder),
                    reason,
                )
                self._start_heartbeat()
                return self
        raise LeaseHeldError(f"could not take the driver lease {self.path}; run again")

    def _take_over(self, stale: dict[str, Any]) -> bool:
        aside = self.path.with_name(f".{LEASE_FILE}.{self.me['token']}.stale")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return False  # another driver took it first
        try:
            moved = json.loads(aside.read_text())
        except (OSError, ValueError):
            moved = {}
        if moved and moved.get("token") != stale.get("token"):
            # A live lease replaced the stale one between our read and our rename: put it
            # back (a link never overwrites, so a third driver's fresh lease is kept too).
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
            aside.unlink(missing_ok=True)
            return False
        aside.unlink(missing_ok=True)
        return self._create()

    def _start_heartbeat(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="mtsweep-lease", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            holder = self.holder()
            if not holder or holder.get("token") != self.me["token"]:
                log.error(
                    "this driver lost its lease %s to %s; stop this driver",
                    self.path,
                    self.describe(holder or {}),
                )
                return
            tmp = self.path.with_name(f".{LEASE_FILE}.{self.me['token']}.tmp")
            try:
                tmp.write_bytes(self._record())
                os.replace(tmp, self.path)
            except OSError as e:
                log.warning("could not renew the driver lease %s (%s)", self.path, e)

    def release(self) -> None:
        """Stop the heartbeat and remove the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        holder = self.holder()
        if holder and holder.get("token") == self.me["token"]:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> DriverLease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
