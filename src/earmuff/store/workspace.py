"""Opening a workspace: the database, the blob store and the key ring, wired from settings.

Nothing earmuff writes is for anyone but the account it runs as: the process umask is
tightened to 077 on open, and the workspace, the blob folders, the database file (with
its ``-wal``, ``-shm`` and ``.writelock``), the master key and exports are created
0700 or 0600 explicitly as well, whatever umask a caller restores afterwards.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from earmuff.config import Settings
from earmuff.store.blobs import BlobStore, LocalFolderBlobStore
from earmuff.store.crypto import KeyRing, load_master_keys
from earmuff.store.db import Database
from earmuff.store.rotation import pin_purpose_keys

PRIVATE_UMASK = 0o077


@dataclass
class Store:
    settings: Settings
    db: Database
    blobs: BlobStore
    keyring: KeyRing

    def close(self) -> None:
        self.db.dispose()


def private_umask() -> None:
    """Make every file and folder this process creates from now on private to its user."""
    os.umask(os.umask(PRIVATE_UMASK) | PRIVATE_UMASK)


def make_private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) mode 0700; an existing folder is left as it is,
    since it may be one the operator chose to share, such as a home folder."""
    missing: list[Path] = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)


def open_store(settings: Settings, migrate: bool = True) -> Store:
    """Open (and on first use create) the workspace ``settings`` names."""
    private_umask()
    make_private_dir(settings.workspace)
    masters = load_master_keys(settings.master_key, settings.master_key_file)
    key_file = None if settings.master_key else settings.master_key_file
    keyring = KeyRing(masters[0], masters[1:], key_file=key_file)
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    pin_purpose_keys(db, keyring)
    return Store(
        settings=settings,
        db=db,
        blobs=LocalFolderBlobStore(settings.blob_dir),
        keyring=keyring,
    )
