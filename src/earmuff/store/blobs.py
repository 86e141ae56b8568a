"""Blob storage. Backends store opaque bytes; callers hand them only sealed ciphertext."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-]*(/[a-z0-9][a-z0-9_\-.]*)*$")


class BlobNotFound(KeyError):
    """No blob is stored under this key (never stored, or deleted)."""


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def keys(self, prefix: str = "") -> Iterator[str]: ...


class LocalFolderBlobStore:
    """Blobs as files under one folder, written atomically and durably.

    A blob appears whole or not at all: it is written to a temporary name in the same
    folder, flushed to disk, then renamed, so a crash never leaves half a blob.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        if not root.exists():
            root.parent.mkdir(parents=True, exist_ok=True)
            root.mkdir(mode=0o700, exist_ok=True)

    def _make_folders(self, folder: Path) -> None:
        """Each missing folder below the root made 0700 (``mkdir(parents=True)`` would
        give the intermediate ones the default mode)."""
        missing: list[Path] = []
        while folder != self.root and not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for each in reversed(missing):
            each.mkdir(mode=0o700, exist_ok=True)

    def _path(self, key: str) -> Path:
        """The file for ``key``, which must be a plain relative path inside the store.

        ``fullmatch``, not ``match``: ``$`` also matches before a trailing newline, so
        ``match`` would let ``"a\\n"`` through as a file name with a newline in it.
        """
        if not _KEY.fullmatch(key) or ".." in key:
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self._make_folders(path.parent)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            temporary.replace(path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self, prefix: str = "") -> Iterator[str]:
        """Every stored key, or those under ``prefix`` (a folder such as "derived/abc/")."""
        folder = self.root
        if prefix:
            folder = self._path(prefix.rstrip("/")) if prefix.endswith("/") else self.root
        if not folder.is_dir():
            return
        for path in sorted(folder.rglob("*")):
            key = path.relative_to(self.root).as_posix()
            if path.is_file() and not path.name.startswith(".") and key.startswith(prefix):
                yield key
