"""The embedded database under concurrent writers: threads and processes."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import func, select

from earmuff.audit import record, verify
from earmuff.store.db import Database
from earmuff.store.models import AuditEvent


def _append_events(url: str, count: int) -> None:
    database = Database(url)
    for index in range(count):
        with database.transaction() as session:
            record(session, "writer", "test.event", f"item:{index}")
    database.dispose()


def test_writer_processes_sharing_a_sqlite_file_queue_and_all_commit(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'earmuff.db'}"
    Database(url).migrate()
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append_events, args=(url, 40)) for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [writer.exitcode for writer in writers] == [0, 0, 0]
    database = Database(url)
    with database.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 120
        assert verify(session) == 120, "each append chained onto the one before it"


def test_writer_threads_queue_and_all_commit(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'earmuff.db'}")
    database.migrate()

    def append(index: int) -> None:
        with database.transaction() as session:
            record(session, "writer", "test.event", f"item:{index}")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(append, range(64)))
    with database.read() as session:
        assert verify(session) == 64
