"""A claim has one holder at a time, and dies with the process that holds it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest

from earmuff.store import Store
from earmuff.store.claims import ClaimHeld, claims_for
from earmuff.store.db import Database

HOLD_UNTIL_KILLED = """
import sys, time
from earmuff.store.claims import claims_for
from earmuff.store.db import Database
with claims_for(Database(sys.argv[1])).hold(sys.argv[2]):
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_held_claim_refuses_a_second_holder_until_it_is_released(store: Store) -> None:
    elsewhere = Database(store.settings.database_url)
    first, second = claims_for(store.db), claims_for(elsewhere)
    try:
        with first.hold("recording:a"):
            with (
                pytest.raises(ClaimHeld, match="recording:a is claimed"),
                second.hold("recording:a"),
            ):
                pass
            with second.hold("recording:b"):
                pass
        with second.hold("recording:a"):
            pass
    finally:
        elsewhere.dispose()


def test_two_threads_of_one_process_exclude_each_other(store: Store) -> None:
    claims = claims_for(store.db)
    refused: list[BaseException] = []

    def second_holder() -> None:
        try:
            with claims.hold("recording:a"):
                pass
        except ClaimHeld as exc:
            refused.append(exc)

    with claims.hold("recording:a"):
        thread = threading.Thread(target=second_holder)
        thread.start()
        thread.join()
    assert len(refused) == 1


def test_claims_create_no_file_per_name(store: Store) -> None:
    """A file made and removed per recording slowed every later file creation."""
    if store.db.dialect != "sqlite":
        pytest.skip("claims on PostgreSQL are advisory locks, which touch no file")
    beside = Path(str(store.db.engine.url.database)).parent
    before = {p.name for p in beside.rglob("*")}
    claims = claims_for(store.db)
    with ExitStack() as held:
        for index in range(5):
            held.enter_context(claims.hold(f"recording:{index}"))
        during = {p.name for p in beside.rglob("*")}
    assert len(during - before) <= 1, "at most the one shared lock file"


def test_an_error_in_the_holder_releases_the_claim(store: Store) -> None:
    claims = claims_for(store.db)
    with pytest.raises(RuntimeError), claims.hold("recording:a"):
        raise RuntimeError("the stage fell over")
    with claims.hold("recording:a"):
        pass


def test_a_claim_dies_with_the_process_that_held_it(store: Store) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_UNTIL_KILLED, store.settings.database_url, "recording:a"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        claims = claims_for(store.db)
        with pytest.raises(ClaimHeld), claims.hold("recording:a"):
            pass
    finally:
        holder.kill()
        holder.wait()
    # PostgreSQL releases a dead backend's locks once it notices the socket closed:
    # at once on a quiet machine, a moment later on a loaded one.
    deadline = time.monotonic() + 10
    while True:
        try:
            with claims.hold("recording:a"):
                return
        except ClaimHeld:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_an_in_memory_database_is_refused_as_it_cannot_be_shared() -> None:
    with pytest.raises(ValueError, match="PostgreSQL or an SQLite file"):
        claims_for(Database("sqlite://"))
