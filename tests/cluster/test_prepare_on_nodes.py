"""``mtsweep prepare`` fanned out over a three-node Ray cluster writes the very dataset the
in-process path writes.

The head node schedules nothing (0 CPUs), so every chunk is decoded by a Ray task on one of
the two worker nodes and sent back to the driver, which publishes the dataset to a bucket
on the test S3 server: the path of a cluster that shares object storage, not a file system.
"""

from __future__ import annotations

import pytest

from mtsweep.shared_storage import SharedStorage
from orchestrator.cli import main
from tasks.datasets import get_dataset
from tasks.packed.manifest import MANIFEST, packed_fingerprint, parse_manifest, read_manifest
from tests.helpers.cluster import ray_nodes
from tests.helpers.sweep_files import TINY_SWEEP

pytestmark = pytest.mark.slow

AT_16 = ["--set", "data.image_size=16", "--chunk", "3"]  # several chunks for each node


@pytest.fixture
def three_nodes(s3_server):  # the S3 environment first, so the nodes inherit it
    with ray_nodes({"num_cpus": 0}, [{"num_cpus": 1}] * 2) as (cluster, _):
        yield cluster


def test_prepare_on_ray_nodes_writes_the_in_process_dataset(tmp_path, s3_bucket, three_nodes):
    source = tmp_path / "taskonomy"
    get_dataset("taskonomy").write_synthetic(source, n=12, size=16, seed=3)
    prepare = ["prepare", str(TINY_SWEEP), "--data-root", str(source), *AT_16]
    local = tmp_path / "in-process"
    assert main([*prepare, "--to", str(local)]) == 0
    uri = f"{s3_bucket}/packed"
    assert main([*prepare, "--to", uri, "--address", three_nodes.address]) == 0

    bucket = SharedStorage(uri)
    expected = read_manifest(local)
    manifest = parse_manifest(bucket.read_bytes(MANIFEST), uri)
    assert packed_fingerprint(manifest) == packed_fingerprint(expected)
    assert sum(s["count"] for s in manifest["splits"].values()) > 2 * 3
    assert bucket.keys() == sorted([*expected["files"], MANIFEST])
    for name in expected["files"]:
        assert bucket.read_bytes(name) == (local / name).read_bytes(), name
