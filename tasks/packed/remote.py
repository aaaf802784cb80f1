"""A packed dataset (:mod:`tasks.packed`) on object storage: publishing it, and node copies.

Trials memory-map a packed dataset, which needs a local file, so a bucket serves as the
place a dataset is kept, not read from:

- :func:`publish` uploads a complete local packed directory (``mtsweep prepare --to
  s3://…`` packs into a local staging directory first): every file as one whole object,
  the manifest last. A bucket prefix with a manifest therefore holds a complete dataset; one
  without (an interrupted upload) is not read, and the next ``prepare`` uploads it again.
- :func:`local_copy` gives a node's copy of a published dataset: downloaded once per node
  into ``<cache>/<fingerprint>/`` (:func:`tasks.packed.manifest.packed_fingerprint`, so a
  re-prepared dataset is a new copy, never a mix), under a file lock, so the trials of one
  node that ask at once wait for one download. Each file is checked against the size and
  SHA-256 the manifest lists while it streams in; the copy is renamed into place, manifest
  included, only once all of it is verified.

Credentials come from the store's own environment (:mod:`mtsweep.shared_storage`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from mtsweep.shared_storage import SharedStorage
from tasks.packed.manifest import MANIFEST, PackedError, packed_fingerprint, parse_manifest

log = logging.getLogger(__name__)

BLOCK = 1 << 23  # bytes per streamed read: 8 MiB


def remote_manifest(uri: str) -> dict[str, Any] | None:
    """The manifest published at ``uri``, or None when there is none (nothing is published
    there, or an upload was interrupted before its last object)."""
    try:
        data = SharedStorage(uri, "packed data").read_bytes(MANIFEST)
    except OSError as e:  # no such bucket, no access, no answer
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise PackedError(
            f"{uri} cannot be read ({reason}); check the bucket and the credentials in the "
            "environment"
        ) from None
    return None if data is None else parse_manifest(data, f"{uri}/{MANIFEST}")


def require_manifest(uri: str) -> dict[str, Any]:
    """The manifest published at ``uri``; PackedError in one line when there is none."""
    manifest = remote_manifest(uri)
    if manifest is None:
        raise PackedError(
            f"{uri} holds no packed dataset (no {MANIFEST}); make it with "
            f"'mtsweep prepare SWEEP --preset P --data-root RAW --to {uri}'"
        )
    return manifest


def _listed_files(manifest: Mapping[str, Any], where: str) -> dict[str, dict[str, Any]]:
    files = manifest.get("files")
    if not files:
        raise PackedError(
            f"{where}: its manifest lists no files (packed by an older mtsweep); "
            "run 'mtsweep prepare' again"
        )
    return files


def publish(local: Path, uri: str, manifest: Mapping[str, Any]) -> None:
    """Upload the complete packed directory ``local`` to ``uri``: each listed file as one
    object, then the manifest (so a reader that sees the manifest sees every file)."""
    storage = SharedStorage(uri, "--to")
    files = _listed_files(manifest, str(local))
    storage.delete(MANIFEST)  # a stale manifest must not vouch for files being replaced
    t0, total = time.perf_counter(), 0
    for name in sorted(files):
        with (
            open(local / name, "rb") as src,
            storage.fs.open_output_stream(storage.path(name)) as dst,
        ):
            while block := src.read(BLOCK):
                dst.write(block)
        total += files[name]["bytes"]
        log.info("uploaded %s (%.1f MB)", storage.uri(name), files[name]["bytes"] / 1e6)
    storage.write_bytes(MANIFEST, json.dumps(manifest, indent=1).encode())
    log.info("published %.1f MB to %s in %.0f s", total / 1e6, uri, time.perf_counter() - t0)


def local_copy(uri: str, cache: Path) -> Path:
    """This node's verified copy of the dataset published at ``uri``, under ``cache``:
    downloaded by the first caller, waited for by the others."""
    manifest = require_manifest(uri)
    dest = Path(cache) / packed_fingerprint(manifest)
    if (dest / MANIFEST).exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest) + ".lock"):
        if not (dest / MANIFEST).exists():
            _download(uri, manifest, dest)
    return dest


def adopt(staged: Path, cache: Path, manifest: Mapping[str, Any]) -> Path:
    """Move a complete packed directory into ``cache`` as this node's copy of it (so the
    node that prepared a dataset does not download it again); the copy's path."""
    dest = Path(cache) / packed_fingerprint(manifest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(dest) + ".lock"):
        if (dest / MANIFEST).exists():
            shutil.rmtree(staged)
        else:
            os.replace(staged, dest)
    return dest


def _download(uri: str, manifest: Mapping[str, Any], dest: Path) -> None:
    storage = SharedStorage(uri, "packed data")
    files = _listed_files(manifest, uri)
    tmp = dest.with_name(f"{dest.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.perf_counter()
    try:
        for name, expected in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            digest, size = hashlib.sha256(), 0
            try:
                with (
                    storage.fs.open_input_stream(storage.path(name)) as src,
                    open(target, "wb") as dst,
                ):
                    while block := src.read(BLOCK):
                        digest.update(block)
                        size += len(block)
                        dst.write(block)
            except FileNotFoundError:
                raise PackedError(
                    f"{storage.uri(name)} is missing although the manifest lists it; "
                    "run 'mtsweep prepare' again"
                ) from None
            if (size, digest.hexdigest()) != (expected["bytes"], expected["sha256"]):
                raise PackedError(
                    f"{storage.uri(name)} is not the file its manifest lists ({size} bytes, "
                    f"expected {expected['bytes']}); run 'mtsweep prepare' again"
                )
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = sum(f["bytes"] for f in files.values())
    log.info(
        "copied %.1f MB of packed data from %s to %s in %.1f s",
        total / 1e6,
        uri,
        dest,
        time.perf_counter() - t0,
    )
