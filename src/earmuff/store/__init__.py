"""Database, encrypted blob storage, keys and the vault."""

from earmuff.store.workspace import Store, open_store

__all__ = ["Store", "open_store"]
