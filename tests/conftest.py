"""Shared fixtures: a real local Ray on loopback, and a private data cache per test session."""

from __future__ import annotations

import os

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # Ray binds 127.0.0.1
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory):
    """Synthetic data is generated once per test session into a private cache."""
    path = tmp_path_factory.mktemp("mtsweep-cache")
    old = os.environ.get("MTSWEEP_CACHE")
    os.environ["MTSWEEP_CACHE"] = str(path)
    yield path
    if old is None:
        os.environ.pop("MTSWEEP_CACHE", None)
    else:
        os.environ["MTSWEEP_CACHE"] = old


@pytest.fixture(scope="module")
def ray_local():
    """A real two-CPU Ray instance on loopback, shared by one module's tests.

    Module scope, so modules that build their own multi-node cluster start from none.
    """
    import ray

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    yield ray
    ray.shutdown()
