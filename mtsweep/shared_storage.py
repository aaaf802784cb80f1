"""Storage every node of a sweep reads and writes: a mounted directory or a bucket prefix.

Checkpoints, kept results and packed data live here. A directory that every node mounts
(NFS, Lustre) and an object-store prefix (``s3://bucket/prefix``, ``gs://…``, whatever
pyarrow's file systems open) serve alike because every write is of a whole object: in a
directory, a temporary sibling renamed over the name; in a bucket, one upload, which the
store makes visible only once complete (an object store has no rename, so nothing is ever
written under a temporary name and moved). A reader sees the old object or the new one,
never half of one.

Credentials come from each store's own environment and configuration (for S3:
``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``, an instance role, and
``AWS_ENDPOINT_URL`` for an S3-compatible server); a URI that carries a user or a secret is
refused, so none reaches ``sweep.json``, MLflow or a log. See docs/cluster.md.
"""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from mtsweep.errors import MtsweepError

if TYPE_CHECKING:
    import pyarrow.fs

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/")


class StorageError(MtsweepError):
    """A storage location that cannot be used: a file, a URI with credentials, a store that
    cannot be reached or written."""


def is_uri(value: str | Path) -> bool:
    """True for ``scheme://…`` (other than ``file:``), which no local path API can open."""
    match = _SCHEME.match(str(value))
    return bool(match) and match.group(1).lower() != "file"


def local_dir(value: str | Path, flag: str) -> Path:
    """A value that must be a local (or mounted) directory, as a path: URIs and existing
    files are refused in one line."""
    text = str(value)
    if is_uri(text):
        raise StorageError(f"{flag} {text}: give a local directory, not a URI")
    path = Path(text.removeprefix("file://")).expanduser()
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise StorageError(f"{flag} {text}: {existing} is a file; give a directory")
    return path


def as_storage(value: SharedStorage | str | Path) -> SharedStorage:
    """``value`` as a ``SharedStorage`` (a path or a URI is opened as one)."""
    return value if isinstance(value, SharedStorage) else SharedStorage(value)


def first_line(e: BaseException) -> str:
    """An error's first line (a store's errors can span many)."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


class SharedStorage:
    """A storage location and whole-object reads and writes under it, by relative key.

    Keys use ``/``. The file system is opened on first use, so making (or unpickling, on a
    worker) a ``SharedStorage`` contacts nothing; it pickles as its location only, and each
    process opens the store with its own credentials.
    """

    def __init__(self, location: str | Path, flag: str = "--storage"):
        text = str(location)
        self.is_local = not is_uri(text)
        if self.is_local:
            self.local_path: Path | None = local_dir(text, flag).resolve()
            self.location = str(self.local_path)
        else:
            scheme, _, rest = text.partition("://")
            if "@" in rest.split("/", 1)[0]:
                raise StorageError(
                    f"{flag} {scheme}://…@…: credentials do not belong in the URI; set them in "
                    "the store's environment (e.g. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"
                )
            if not rest.strip("/"):
                raise StorageError(f"{flag} {text}: name a bucket (e.g. s3://bucket/prefix)")
            self.local_path = None
            self.location = f"{scheme.lower()}://{rest.rstrip('/')}"
        self._fs: pyarrow.fs.FileSystem | None = None
        self._base = ""

    def __reduce__(self):
        return (SharedStorage, (self.location,))

    def __repr__(self) -> str:
        return f"SharedStorage({self.location!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SharedStorage) and other.location == self.location

    def __hash__(self) -> int:
        return hash(self.location)

    # -- opening ---------------------------------------------------------------------
    @property
    def fs(self) -> pyarrow.fs.FileSystem:
        return self._open()

    def _open(self) -> pyarrow.fs.FileSystem:
        if self._fs is None:
            import pyarrow.fs

            if self.is_local:
                self._fs, self._base = pyarrow.fs.LocalFileSystem(), self.location
            else:
                try:
                    self._fs, self._base = pyarrow.fs.FileSystem.from_uri(self.location)
                except Exception as e:  # noqa: BLE001 - an unknown scheme, a bad URI
                    raise StorageError(f"storage {self.location}: {first_line(e)}") from None
                self._base = self._base.rstrip("/")
        return self._fs

    def path(self, key: str = "") -> str:
        """The store's own path of ``key`` (what ``self.fs`` takes)."""
        self._open()  # sets the base path
        return f"{self._base}/{key}".rstrip("/") if key else self._base

    def uri(self, key: str = "") -> str:
        """Where ``key`` lives, as a user would type it (a path, or ``s3://…``)."""
        return f"{self.location}/{key}".rstrip("/") if key else self.location

    def url(self, key: str = "") -> str:
        """Where ``key`` lives as a URL for records (``file://…`` for a directory)."""
        return Path(self.uri(key)).as_uri() if self.is_local else self.uri(key)

    def child(self, key: str) -> SharedStorage:
        """The storage under ``key`` (e.g. one model's checkpoint folder)."""
        return SharedStorage(self.uri(key))

    # -- whole-object reads and writes ------------------------------------------------
    def read_bytes(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        if self.is_local:
            try:
                return Path(self.path(key)).read_bytes()
            except FileNotFoundError:
                return None
        import pyarrow.fs

        path = self.path(key)
        if self.fs.get_file_info(path).type != pyarrow.fs.FileType.File:
            return None
        try:
            with self.fs.open_input_stream(path) as f:
                return f.read()
        except FileNotFoundError:  # deleted between the two calls
            return None

    def write_bytes(self, key: str, data: bytes) -> str:
        """Write the whole object so that no reader ever sees part of it; its URI."""
        if self.is_local:
            target = Path(self.path(key))
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
                _fsync_dir(target.parent)
            finally:
                tmp.unlink(missing_ok=True)
        else:
            with self.fs.open_output_stream(self.path(key)) as f:
                f.write(data)
        return self.uri(key)

    def copy(self, src: str, dst: str) -> None:
        """Copy one object to another key (on a bucket, a server-side copy: whole)."""
        if self.is_local:
            data = self.read_bytes(src)
            if data is None:
                raise FileNotFoundError(self.uri(src))
            self.write_bytes(dst, data)
        else:
            self.fs.copy_file(self.path(src), self.path(dst))

    def exists(self, key: str) -> bool:
        import pyarrow.fs

        return self.fs.get_file_info(self.path(key)).type != pyarrow.fs.FileType.NotFound

    def delete(self, key: str) -> None:
        """Remove one object; nothing happens when it is absent."""
        try:
            self.fs.delete_file(self.path(key))
        except FileNotFoundError:
            pass

    def delete_tree(self, key: str) -> None:
        """Remove everything under ``key``; nothing happens when it is absent."""
        if not key:
            raise ValueError("delete_tree needs a key: it never empties the whole storage")
        try:
            self.fs.delete_dir(self.path(key))
        except FileNotFoundError:
            pass

    def keys(self, prefix: str = "") -> list[str]:
        """Every object under ``prefix``, as keys relative to this storage, sorted."""
        import pyarrow.fs

        root = self.path(prefix)
        if self.fs.get_file_info(root).type != pyarrow.fs.FileType.Directory:
            return []
        infos = self.fs.get_file_info(pyarrow.fs.FileSelector(root, recursive=True))
        cut = len(self._base) + 1
        return sorted(i.path[cut:] for i in infos if i.type == pyarrow.fs.FileType.File)

    def check_writable(self) -> None:
        """Write, read back and delete a probe object: one line when the store cannot be
        reached, the bucket does not exist or the credentials may not write."""
        key = f".probe-{uuid.uuid4().hex}"
        try:
            self.write_bytes(key, key.encode())
            back = self.read_bytes(key)
            self.delete(key)
        except StorageError:
            raise
        except Exception as e:  # noqa: BLE001 - a network, permission or bucket error
            raise StorageError(
                f"storage {self.location} cannot be written ({first_line(e)}); check the "
                "bucket and the credentials in the environment"
            ) from None
        if back != key.encode():
            raise StorageError(f"storage {self.location} did not return what was written")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # a file system that cannot open directories: nothing to sync
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
