"""Model files are checked against pinned SHA-256 digests before anything loads them.

A model is code in disguise: a swapped weight file can change what earmuff hears and
hides. Every file a model reads is hashed at load and compared with the digest pinned
here from the package version earmuff was validated with; a mismatch refuses to start.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Iterable, Mapping
from pathlib import Path

CHUNK = 1 << 20


class ModelIntegrityError(RuntimeError):
    """A model file is missing or differs from its pinned digest."""


def package_folder(package: str, *parts: str) -> Path:
    """A folder inside an installed package, or a clear error naming what to install."""
    try:
        root = importlib.resources.files(package)
    except ModuleNotFoundError:
        raise ModelIntegrityError(f"the model package {package!r} is not installed") from None
    return Path(str(root)).joinpath(*parts)


def file_digest(paths: Iterable[Path]) -> str:
    """SHA-256 of the files' bytes read one after another (a split file hashes whole)."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def verify_files(folder: Path, pinned: Mapping[str, str]) -> dict[str, Path]:
    """Check every pinned file in ``folder``; return their paths by name."""
    found = {}
    for name, expected in pinned.items():
        path = folder / name
        if not path.is_file():
            raise ModelIntegrityError(f"model file {path} is missing")
        actual = file_digest([path])
        if actual != expected:
            raise ModelIntegrityError(f"model file {path} has sha256 {actual}, pinned {expected}")
        found[name] = path
    return found


def folder_digest(root: Path) -> str:
    """One digest over a folder: sorted lines of relative path and file SHA-256."""
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for path in files:
        line = f"{path.relative_to(root).as_posix()}\0{file_digest([path])}\n"
        digest.update(line.encode())
    return digest.hexdigest()
