"""The packed format: file names, the manifest, and whether a packed dataset fits a sweep.

The layout is described in :mod:`tasks.packed`; the source's identity is
:func:`tasks.fingerprint.fingerprint`, recorded at packing and compared when a sweep names
the source beside the packed copy.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.errors import DataError
from tasks.fingerprint import fingerprint
from tasks.task import Task

FORMAT = "mtsweep-packed"
# 2: the taskonomy convention masks depth-masked tasks by depth_euclidean (was depth_zbuffer)
VERSION = 2
MANIFEST = "manifest.json"
PROGRESS = "progress.json"
TARGET_DTYPES = ("float32", "float16")


class PackedError(DataError):
    """A packed dataset that is missing, incomplete, or not the one a sweep needs."""


@dataclass(frozen=True)
class ArrayInfo:
    """One stored array of a split: its file, stored dtype and per-sample shape, and the
    dtype a sample gives back (class ids are stored as uint8, read back as int64)."""

    file: str
    dtype: str
    shape: tuple[int, ...]
    load_dtype: str

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "load_dtype": self.load_dtype,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ArrayInfo:
        return cls(d["file"], d["dtype"], tuple(d["shape"]), d["load_dtype"])


def convention_of(tasks: Sequence[Task]) -> str:
    conventions = sorted({t.convention for t in tasks})
    return conventions[0] if conventions else ""


def is_packed(path: Path | str | None) -> bool:
    """Whether ``path`` is a directory written by ``pack`` (complete or not)."""
    if not path:
        return False
    path = Path(path)
    return (path / MANIFEST).exists() or (path / PROGRESS).exists()


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest of a complete packed dataset; PackedError in one line otherwise."""
    path = Path(path)
    file = path / MANIFEST
    if not file.exists():
        hint = " (a prepare was interrupted: run it again)" if (path / PROGRESS).exists() else ""
        raise PackedError(
            f"{path} is not a complete packed dataset{hint}; make it with 'mtsweep prepare'"
        )
    try:
        text = file.read_text()
    except OSError as e:
        raise PackedError(f"{file} cannot be read ({e}); run 'mtsweep prepare' again") from None
    return parse_manifest(text, str(file))


def parse_manifest(text: str | bytes, where: str) -> dict[str, Any]:
    """A manifest's JSON text as the manifest; PackedError in one line when it is not one."""
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as e:
        raise PackedError(f"{where} cannot be read ({e}); run 'mtsweep prepare' again") from None
    if not isinstance(manifest, dict) or (
        manifest.get("format"),
        manifest.get("version"),
    ) != (FORMAT, VERSION):
        raise PackedError(
            f"{where} is not an {FORMAT} v{VERSION} manifest; run 'mtsweep prepare' again"
        )
    return manifest


def packed_fingerprint(manifest: Mapping[str, Any]) -> str:
    """The identity of a packed dataset's content: a digest of its manifest, which names the
    source, the request and every file's SHA-256 (the key of node-local copies)."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def describe(manifest: Mapping[str, Any]) -> str:
    counts = ", ".join(f"{s} {v['count']}" for s, v in manifest["splits"].items())
    return (
        f"{manifest['dataset']} at size {manifest['size']}, "
        f"tasks {','.join(manifest['tasks'])}, convention {manifest['convention']}, {counts}"
    )


def check_manifest(
    manifest: Mapping[str, Any],
    *,
    where: Path | str,
    dataset: str,
    tasks: Sequence[Task],
    size: int,
    selection: Mapping[str, Any] | None = None,
    split: str | None = None,
    source: Path | None = None,
) -> None:
    """Refuse, in one line, a packed dataset that is not the one the trial would decode."""

    def refuse(what: str) -> PackedError:
        return PackedError(
            f"packed dataset {where} {what}; run 'mtsweep prepare' for this sweep and preset"
        )

    if manifest["dataset"] != dataset:
        raise refuse(f"holds {manifest['dataset']}, not {dataset}")
    missing = sorted({t.name for t in tasks} - set(manifest["tasks"]))
    if missing:
        raise refuse(f"lacks tasks {', '.join(missing)} (it has {', '.join(manifest['tasks'])})")
    if manifest["size"] != size:
        raise refuse(f"holds size {manifest['size']} images, the sweep trains at size {size}")
    if manifest.get("selection", {}) != dict(selection or {}):
        raise refuse(
            f"selects samples by {manifest.get('selection')}, the sweep by {dict(selection or {})}"
        )
    if tasks and manifest["convention"] != convention_of(tasks):
        raise refuse(
            f"has targets of convention {manifest['convention']!r}, "
            f"the sweep uses {convention_of(tasks)!r}"
        )
    if split is not None and split not in manifest["splits"]:
        raise refuse(f"has no {split} split (only {', '.join(manifest['splits'])})")
    if source is not None:
        now = fingerprint(source)
        if now != manifest["source"]:
            raise refuse(
                f"was made from {manifest['source']['root']} "
                f"({manifest['source']['files']} files), which differs from {now['root']} "
                f"({now['files']} files) now"
            )
