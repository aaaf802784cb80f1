"""SharedStorage: the same whole-object reads and writes on a directory and on a real S3 API."""

from __future__ import annotations

import pickle

import pytest

from mtsweep.shared_storage import (
    SharedStorage,
    StorageError,
    as_storage,
    is_uri,
    local_dir,
)


@pytest.fixture(params=["dir", "s3"])
def storage(request, tmp_path):
    if request.param == "dir":
        return SharedStorage(tmp_path / "store")
    return SharedStorage(request.getfixturevalue("s3_bucket") + "/some/prefix")


def test_write_read_copy_list_delete(storage):
    assert storage.read_bytes("a/b.json") is None
    assert not storage.exists("a/b.json")
    uri = storage.write_bytes("a/b.json", b"one")
    assert uri == storage.uri("a/b.json") and uri.startswith(storage.location)
    assert storage.read_bytes("a/b.json") == b"one"
    storage.write_bytes("a/b.json", b"two")  # replaces, whole
    assert storage.read_bytes("a/b.json") == b"two"
    storage.copy("a/b.json", "a/c.json")
    storage.write_bytes("d.bin", b"\x00\x01")
    assert storage.keys() == ["a/b.json", "a/c.json", "d.bin"]
    assert storage.keys("a") == ["a/b.json", "a/c.json"]
    assert storage.keys("nothing-here") == []
    storage.delete("a/b.json")
    storage.delete("a/b.json")  # absent: no error
    assert storage.keys("a") == ["a/c.json"]
    storage.delete_tree("a")
    storage.delete_tree("a")
    assert storage.keys() == ["d.bin"]
    with pytest.raises(ValueError):
        storage.delete_tree("")


def test_no_temporary_object_is_left_or_listed(storage):
    for i in range(3):
        storage.write_bytes("x/latest.pt", bytes([i]) * 1000)
    assert storage.keys() == ["x/latest.pt"]


def test_child_and_pickle_keep_only_the_location(storage):
    storage.write_bytes("m/k/latest.pt", b"ckpt")
    child = storage.child("m/k")
    assert child.read_bytes("latest.pt") == b"ckpt"
    copy = pickle.loads(pickle.dumps(child))
    assert copy == child and copy._fs is None
    assert copy.read_bytes("latest.pt") == b"ckpt"


def test_url_and_as_storage_name_the_same_place(storage):
    url = storage.url("checkpoints/m")
    assert url.startswith("file:///" if storage.is_local else "s3://")
    assert url.endswith(storage.location.lstrip("/") + "/checkpoints/m")
    assert as_storage(storage) is storage and as_storage(storage.location) == storage


def test_check_writable_passes_and_leaves_nothing(storage):
    storage.check_writable()
    assert storage.keys() == []


def test_missing_bucket_is_one_line(s3_server):
    storage = SharedStorage("s3://mtsweep-no-such-bucket/prefix")
    with pytest.raises(StorageError) as e:
        storage.check_writable()
    assert "\n" not in str(e.value)
    assert "s3://mtsweep-no-such-bucket/prefix" in str(e.value)


def test_credentials_in_the_uri_are_refused_without_echoing_them():
    with pytest.raises(StorageError) as e:
        SharedStorage("s3://AKIAXXX:s3cr3t@bucket/prefix")
    assert "s3cr3t" not in str(e.value) and "AKIAXXX" not in str(e.value)


def test_unknown_scheme_and_bare_scheme_are_refused():
    with pytest.raises(StorageError):
        SharedStorage("s3://")
    with pytest.raises(StorageError, match="nosuchfs://x"):
        SharedStorage("nosuchfs://x/y").check_writable()


def test_local_paths(tmp_path):
    assert not is_uri(tmp_path) and is_uri("s3://b/x") and not is_uri("file:///tmp/x")
    assert SharedStorage(f"file://{tmp_path}").local_path == tmp_path
    (tmp_path / "f").write_text("x")
    with pytest.raises(StorageError, match="is a file"):
        local_dir(tmp_path / "f" / "sub", "--out")
    with pytest.raises(StorageError, match="not a URI"):
        local_dir("s3://b/x", "--out")
