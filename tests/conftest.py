"""Shared fixtures: a real local Ray on loopback, a private data cache, isolated RNG/threads."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from orchestrator.sweep.ray_backend import apply_ray_defaults
from tests.helpers.sweep_files import write_sweep

# Before any test module imports Ray: Ray reads its loopback binding at import.
apply_ray_defaults()


def pytest_collection_modifyitems(config, items):
    """Files holding a slow test run first (the order xdist hands files to its workers), so
    the long ones start early and the quick ones fill in at the end of `make test`."""
    slow = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow)


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory):
    """Synthetic data (and MLflow's empty store) is made once per test session into a cache
    of its own, which the xdist workers of one session share: each entry is written under a
    temporary name and renamed into place, so two workers making one at once both get it whole."""
    base = tmp_path_factory.getbasetemp()
    path = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "mtsweep-cache"
    path.mkdir(exist_ok=True)
    old = os.environ.get("MTSWEEP_CACHE")
    os.environ["MTSWEEP_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("MTSWEEP_CACHE", None)
    else:
        os.environ["MTSWEEP_CACHE"] = old


@pytest.fixture(autouse=True)
def isolated_torch():
    """Each test starts from the same torch threads and RNG states and leaves them as found,
    so no test depends on what ran before it (a trial sets its own thread count)."""
    threads = torch.get_num_threads()
    states = (torch.random.get_rng_state(), np.random.get_state(), random.getstate())
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
    torch.random.set_rng_state(states[0])
    np.random.set_state(states[1])
    random.setstate(states[2])


@pytest.fixture
def sweep_yaml(tmp_path):
    """``sweep_yaml({"dotted.key": value, …}, base=TINY_SWEEP)`` writes a changed sweep file."""

    def write(changes=None, base=None):
        kwargs = {} if base is None else {"base": base}
        return write_sweep(tmp_path, changes=changes, **kwargs)

    return write


@pytest.fixture(scope="module")
def ray_local():
    """A real two-CPU Ray instance on loopback, shared by one module's tests.

    Module scope, so modules that build their own multi-node cluster start from none.
    """
    import ray

    from orchestrator.sweep.ray_backend import start_ray

    start_ray(None, num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API (moto_server) on 127.0.0.1 for the session, with every S3 client of the
    tests (and of the Ray workers and servers they start) pointed at it."""
    from tests.helpers.s3 import S3Server, s3_environment

    server = S3Server()
    server.start()
    try:
        with s3_environment(server):
            yield server
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh bucket on the test S3 server; its ``s3://`` URI."""
    return f"s3://{s3_server.new_bucket()}"
