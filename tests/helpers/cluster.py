"""A real MLflow server on loopback, and the arithmetic of overlapping trials."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def ray_nodes(head: dict[str, Any], workers: list[dict[str, Any]] | None = None) -> Iterator[tuple]:
    """A multi-node Ray cluster on this machine (``ray.cluster_utils.Cluster``): the head
    with ``head``'s resources and one node per entry of ``workers``; (cluster, worker nodes).
    Nodes inherit this process's environment (e.g. an S3 endpoint set before)."""
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args=head)
    nodes = [cluster.add_node(**args) for args in workers or []]
    cluster.wait_for_nodes()
    try:
        yield cluster, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(url: str, proc: subprocess.Popen, timeout: float, what: str) -> None:
    """Poll ``url`` until it answers (any HTTP status below 500), or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError as e:
            if e.code < 500:
                return
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.3)
    raise RuntimeError(f"{what} on {url} did not start in {timeout:.0f} s")


def run_argv(sweep: Path, out: Path, *extra: str) -> list[str]:
    """``mtsweep run`` arguments for a test sweep (no reduction: these tests check runs)."""
    return ["run", str(sweep), "--out", str(out), *extra, "--no-reduce"]


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The largest number of [start, end) intervals that hold at one instant."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


class MlflowServer:
    """A real ``mlflow server`` on loopback (SQLite backend, artifacts served by it: under
    ``root`` or at ``artifacts_destination``, e.g. ``s3://bucket/mlflow``)."""

    def __init__(
        self,
        root: Path,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        artifacts_destination: str | None = None,
    ) -> None:
        self.root = root
        self.artifacts_destination = artifacts_destination or str(root / "artifacts")
        self.extra_args = extra_args  # e.g. ("--app-name", "basic-auth")
        self.env = env or {}
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        mlflow = Path(sys.executable).with_name("mlflow")
        cmd = [
            str(mlflow),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--backend-store-uri",
            f"sqlite:///{self.root / 'server.db'}",
            "--artifacts-destination",
            self.artifacts_destination,
            "--workers",
            "1",
            *self.extra_args,
        ]
        # The server's job runner (a dozen huey workers for GenAI jobs) is of no use to a
        # tracking store and would crowd a 2-core machine.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **self.env}
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        wait_until_serving(f"{self.uri}/health", self.proc, timeout, "mlflow server")

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
            self.proc = None
