"""Exclusive claims on a name: one holder at a time, released when the holder dies.

Two pipeline workers handed the same recording at once (a broker's duplicate delivery,
a redelivery after a timeout, ``earmuff pipeline run`` beside a worker) must not both
run its stages. A claim must also vanish with the process that holds it, or a worker
killed mid-recording would lock the recording forever; so a claim is a lock that the
database server or the kernel drops on death, never a row with an expiry to guess.
On PostgreSQL it is a session-level advisory lock, dropped when its connection closes;
on SQLite, whose workers necessarily share one machine, an ``flock`` on a file beside
the database, dropped when the process exits.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
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
        return LockFiles(Path(database + ".claims"))
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


class LockFiles:
    """One lock file per claim, removed by its holder before it lets go.

    A claimant that opened the file just before its removal may lock the removed file;
    it checks that the file it locked is still the one at the path, and tries again if
    not, so two claimants never hold two different files for one name.
    """

    def __init__(self, folder: Path) -> None:
        self._folder = folder

    @contextmanager
    def hold(self, name: str) -> Iterator[None]:
        path = self._folder / f"{_digest(name).hex()[:40]}.lock"
        descriptor = self._take(path, name)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(descriptor)

    def _take(self, path: Path, name: str) -> int:
        self._folder.mkdir(mode=0o700, exist_ok=True)
        while True:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                if _same_file(path, descriptor):
                    return descriptor
            except BlockingIOError:
                os.close(descriptor)
                raise ClaimHeld(name) from None
            except BaseException:
                os.close(descriptor)
                raise
            os.close(descriptor)


def _same_file(path: Path, descriptor: int) -> bool:
    try:
        return path.stat().st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False
