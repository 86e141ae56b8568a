"""Exclusive claims on a name: one holder at a time, released when the holder dies.

Two pipeline workers handed the same recording at once (a broker's duplicate delivery,
a redelivery after a timeout, ``earmuff pipeline run`` beside a worker) must not both
run its stages. A claim must also vanish with the process that holds it, or a worker
killed mid-recording would lock the recording forever; so a claim is a lock that the
database server or the kernel drops on death, never a row with an expiry to guess.
On PostgreSQL it is a session-level advisory lock, dropped when its connection closes;
on SQLite, whose workers necessarily share one machine, a byte-range lock on a file
beside the database, dropped when the process exits.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import struct
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from earmuff.store.db import Database


class ClaimHeld(Exception):
    """Someone else holds the claim right now."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is claimed by another worker")
        self.name = name


class Claims(Protocol):
    def hold(self, name: str) -> AbstractContextManager[None]:
        """Hold ``name`` for the ``with`` block, or raise ``ClaimHeld`` at once."""
        ...


def claims_for(db: Database) -> Claims:
    if db.dialect == "postgresql":
        return AdvisoryLocks(db.engine)
    database = db.engine.url.database
    if db.dialect == "sqlite" and database and database != ":memory:":
        return RangeLocks(Path(database + ".claims.lock"))
    raise ValueError(f"claims need PostgreSQL or an SQLite file, not {db.engine.url.drivername}")


def _digest(name: str) -> bytes:
    return hashlib.sha256(f"earmuff-claim:{name}".encode()).digest()


class AdvisoryLocks:
    """PostgreSQL advisory locks, keyed by 64 bits of a hash of the name.

    The lock is held by a connection of its own for the whole claim, outside any
    transaction, so the claimant's stages are free to commit on other connections.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        key = int.from_bytes(_digest(name)[:8], "big", signed=True)
        connection = self._engine.connect()
        try:
            taken = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": key}
            ).scalar_one()
            connection.commit()
            if not taken:
                raise ClaimHeld(name)
            try:
                yield
            finally:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    connection.commit()
                except DBAPIError:
                    connection.invalidate()
        finally:
            connection.close()


class RangeLocks:
    """Claims as byte-range locks on one file beside the database, one byte per name.

    The byte is at a 62-bit hash of the name, far past the end of the (empty) file,
    which the kernel allows; a collision is as unlikely as one of PostgreSQL's 64-bit
    advisory keys. The locks are Linux's open file description locks, not ``flock`` on
    a file per name: creating and removing a file for every recording made the kernel
    hunt for free inodes past the recently deleted ones, a fifth of the server's CPU
    under the ingest benchmark. They belong to the descriptor, not the process,
    so two threads of one process exclude each other too, and closing the descriptor
    (or dying) lets go.
    """

    def __init__(self, path: Path) -> None:
        self._path = path

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        offset = int.from_bytes(_digest(name)[:8], "big") >> 2
        descriptor = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.fcntl(descriptor, _OFD_SETLK, _range(fcntl.F_WRLCK, offset))
            except (BlockingIOError, PermissionError):
                raise ClaimHeld(name) from None
            yield
        finally:
            os.close(descriptor)


_OFD_SETLK: int = getattr(fcntl, "F_OFD_SETLK", 37)
"""Linux's value, for Pythons built without the name (the call fails off Linux)."""


def _range(kind: int, offset: int) -> bytes:
    """A ``struct flock`` for the one byte at ``offset``; ``l_pid`` must be 0 here."""
    return struct.pack("hhqqi4x", kind, os.SEEK_SET, offset, 1, 0)
