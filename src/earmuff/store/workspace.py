"""Opening a workspace: the database, the blob store and the key ring, wired from settings."""

from __future__ import annotations

from dataclasses import dataclass

from earmuff.config import Settings
from earmuff.store.blobs import BlobStore, LocalFolderBlobStore
from earmuff.store.crypto import KeyRing, MasterKey
from earmuff.store.db import Database


@dataclass
class Store:
    settings: Settings
    db: Database
    blobs: BlobStore
    keyring: KeyRing

    def close(self) -> None:
        self.db.dispose()


def open_store(settings: Settings, migrate: bool = True) -> Store:
    """Open (and on first use create) the workspace ``settings`` names."""
    settings.workspace.mkdir(parents=True, exist_ok=True)
    master = MasterKey.load_or_create(settings.master_key, settings.master_key_file)
    db = Database(settings.database_url)
    if migrate:
        db.migrate()
    return Store(
        settings=settings,
        db=db,
        blobs=LocalFolderBlobStore(settings.blob_dir),
        keyring=KeyRing(master),
    )
