"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
READ_ONLY = "earmuff_read_only"
WRITER_WAIT_S = 30


def make_engine(url: str) -> Engine:
    """An engine tuned for ``url``'s dialect.

    SQLite gets WAL (readers never wait for the writer), enforced foreign keys, and
    ``BEGIN IMMEDIATE``: a transaction takes the write lock when it starts, so two
    transactions that read and then write queue up instead of deadlocking. With
    ``secure_delete`` a deleted row's bytes are overwritten, not left in a free page
    where a copy of the file would still hold a recording's sealed key.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if parsed.database and parsed.database != ":memory:":
        _private_database_file(Path(parsed.database))
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": WRITER_WAIT_S})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={WRITER_WAIT_S * 1000}")
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")

    return engine


def _private_database_file(path: Path) -> None:
    """Create the SQLite file mode 0600 before SQLite does (it would use 0644), and
    tighten one an older version created: SQLite gives its ``-wal`` and ``-shm`` files
    the database file's mode, so they are private too."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for companion in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.writelock")):
        try:
            if companion.stat().st_mode & 0o077:
                companion.chmod(0o600)
        except FileNotFoundError:
            continue


class Database:
    """One engine and its session factories; the app holds exactly one.

    On SQLite, writers queue on a lock instead of polling SQLite's busy handler, whose
    sleeps (up to 100 ms each) would make the slowest requests wait far longer than the
    work in front of them: threads of one process on a mutex, processes sharing the
    database file (``earmuff serve --workers``) on an advisory lock beside it.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self._read_sessions = sessionmaker(self._read_engine, expire_on_commit=False)
        self._write_lock: AbstractContextManager[Any] = nullcontext()
        database = self.engine.url.database
        if self.dialect == "sqlite" and database and database != ":memory:":
            self._write_lock = _WriterLock(Path(database + ".writelock"))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        with self._write_lock, self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only; on SQLite it does not take the write lock.

        Closing the session ends its transaction without committing anything.
        """
        with self._read_sessions() as session:
            yield session

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """Like :meth:`transaction`, but a Core connection: no ORM session around it.

        For the one path that runs on every upload, whose statements are all Core:
        the session's bookkeeping cost more than SQLite took to run them.
        """
        with self._write_lock, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """Like :meth:`read`, but a Core connection; see :meth:`write_connection`."""
        with self._read_engine.connect() as connection:
            yield connection

    def after_commit(self, callback: Callable[[Session], None]) -> None:
        """Call ``callback`` with each session of :meth:`transaction` once it commits.

        For work that must see what was committed (signing the audit log's head); it
        runs before the transaction's write lock is released, so it should be brief.
        """
        event.listen(self._sessions, "after_commit", callback)

    def migrate(self) -> None:
        """Bring the schema to the newest revision; safe to call on every start."""
        upgrade(self.url, engine=self.engine)

    def scrub(self) -> None:
        """Push deleted rows out of the SQLite WAL, after a deletion has committed.

        The WAL keeps old page images, deleted rows included, until a checkpoint; a
        truncating checkpoint copies the (securely deleted) pages into the database
        file and empties the WAL. PostgreSQL keeps dead row versions until vacuum, out
        of reach of SQL; every value there that could matter is sealed under a key
        that the deletion destroyed.
        """
        if self.dialect != "sqlite":
            return
        with self._write_lock:
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                connection.close()

    def dispose(self) -> None:
        self.engine.dispose()


class _WriterLock:
    """One writer at a time across threads and processes, waiting in a queue, not a poll.

    A thread takes the process's mutex first, then the file lock that other processes
    hold while they write; the kernel wakes the next process as soon as it is released.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mutex = threading.Lock()
        self._fd: int | None = None

    def __enter__(self) -> None:
        if not self._mutex.acquire(timeout=WRITER_WAIT_S):
            raise TimeoutError(f"no database write lock after {WRITER_WAIT_S} s")
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._mutex.release()
            raise

    def __exit__(self, *_exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._mutex.release()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head", engine: Engine | None = None) -> None:
    config = alembic_config(url)
    if engine is None:
        command.upgrade(config, revision)
        return
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


APPEND_ONLY_TABLES = ("audit_events",)
_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")


def grant_application_role(connection: Connection, role: str) -> None:
    """Give PostgreSQL role ``role`` what the running server needs, and no more.

    Migrations run as the owner of the tables; the server connects as ``role``, which
    may read and write every table but may only add to the audit log: with SELECT and
    INSERT alone on it, no UPDATE, DELETE or TRUNCATE reaches it, whatever happens to
    the triggers (which the owner could drop).
    """
    if connection.dialect.name != "postgresql":
        raise ValueError("roles are PostgreSQL's: SQLite has no users to grant to")
    if not _ROLE.fullmatch(role):
        raise ValueError(f"{role!r} is not a plain role name (a-z, 0-9, _)")
    tables = connection.exec_driver_sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    ).scalars()
    connection.exec_driver_sql(f'GRANT USAGE ON SCHEMA public TO "{role}"')
    for table in tables:
        connection.exec_driver_sql(f'REVOKE ALL ON "{table}" FROM "{role}"')
        if table == "alembic_version":
            connection.exec_driver_sql(f'GRANT SELECT ON "{table}" TO "{role}"')
        elif table in APPEND_ONLY_TABLES:
            connection.exec_driver_sql(f'GRANT SELECT, INSERT ON "{table}" TO "{role}"')
        else:
            connection.exec_driver_sql(
                f'GRANT SELECT, INSERT, UPDATE, DELETE ON "{table}" TO "{role}"'
            )
    connection.exec_driver_sql(f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
