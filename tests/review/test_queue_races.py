"""The queue under concurrency: reviewers racing for work never share a task.

Each test runs on SQLite and on PostgreSQL. Threads share one ``Database`` (one pool of
connections) or, as ``earmuff serve --workers`` would, several: on SQLite those queue on
the file lock beside the database, on PostgreSQL they are separate connection pools
meeting only in ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select

from earmuff.config.policy import WorkbenchPolicy
from earmuff.review import queue
from earmuff.review.queue import Lease, LeaseLost, Reviewer, Submission
from earmuff.store import Store
from earmuff.store.db import Database
from earmuff.store.models import Annotation, ReviewItem, ReviewTask
from tests.review.test_queue import TIMER, queued_item, reviewer

POLICY = WorkbenchPolicy(gold_share=0.0)
WORKERS = 12
T = TypeVar("T")


def databases(store: Store, count: int) -> list[Database]:
    """``count`` independent handles on the store's database, as separate processes hold."""
    return [store.db] + [Database(store.settings.database_url) for _ in range(count - 1)]


def all_at_once(calls: list[Callable[[], T]]) -> list[T]:
    """Run every call on its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def test_reviewers_asking_at_the_same_moment_get_different_tasks(
    store: Store, now: datetime
) -> None:
    for _ in range(WORKERS + 3):
        queued_item(store)
    people = [reviewer(store, f"r{i}") for i in range(WORKERS)]
    dbs = databases(store, 3)
    try:
        leases = all_at_once(
            [
                (lambda who=who, db=dbs[i % 3]: queue.next_task(db, who, POLICY, now))
                for i, who in enumerate(people)
            ]
        )
    finally:
        for db in dbs[1:]:
            db.dispose()
    tasks = [lease.task_id for lease in leases if lease is not None]
    assert len(tasks) == WORKERS and len(set(tasks)) == WORKERS


def test_one_reviewer_asking_from_many_tabs_at_once_gets_one_lease(
    store: Store, now: datetime
) -> None:
    for _ in range(5):
        queued_item(store)
    ana = reviewer(store, "ana")
    leases = all_at_once([lambda: queue.next_task(store.db, ana, POLICY, now)] * 6)
    assert len({lease.lease_id for lease in leases if lease is not None}) == 1


def test_reviewers_working_through_the_queue_together_do_every_task_exactly_once(
    store: Store, now: datetime
) -> None:
    """Overlap items included: no reviewer does two copies of one item."""
    items = [queued_item(store, copies=3 if i % 4 == 0 else 1) for i in range(24)]
    people = [reviewer(store, f"r{i}") for i in range(6)]
    dbs = databases(store, 2)

    def work(who: Reviewer, db: Database) -> int:
        done = 0
        while (lease := queue.next_task(db, who, POLICY, now)) is not None:
            queue.submit(db, store.keyring, who, lease.lease_id, TIMER, POLICY, now)
            done += 1
        return done

    try:
        counts = all_at_once(
            [(lambda who=who, db=dbs[i % 2]: work(who, db)) for i, who in enumerate(people)]
        )
    finally:
        dbs[1].dispose()
    with store.db.read() as session:
        annotations = session.execute(
            select(Annotation.task_id, Annotation.review_item_id, Annotation.staff_id)
        ).all()
        statuses = Counter(session.scalars(select(ReviewTask.status)))
        done_items = session.scalars(select(ReviewItem.id).where(ReviewItem.status == "done"))
        assert set(done_items) == set(items)
    assert sum(counts) == len(annotations) == 6 * 3 + 18
    assert statuses == Counter({"done": 36})
    assert len({task for task, _, _ in annotations}) == len(annotations), "each task once"
    pairs = Counter((item, staff) for _, item, staff in annotations)
    assert max(pairs.values()) == 1, "no reviewer did two copies of one item"


def test_lapsed_leases_are_reclaimed_once_each_when_many_ask_at_once(
    store: Store, now: datetime
) -> None:
    for _ in range(4):
        queued_item(store)
    first = [reviewer(store, f"first{i}") for i in range(4)]
    lapsed = {queue.next_task(store.db, who, POLICY, now).task_id for who in first}  # type: ignore[union-attr]
    later = now + timedelta(minutes=POLICY.lease_minutes + 1)
    second = [reviewer(store, f"second{i}") for i in range(8)]
    leases = all_at_once(
        [(lambda who=who: queue.next_task(store.db, who, POLICY, later)) for who in second]
    )
    taken = [lease.task_id for lease in leases if lease is not None]
    assert sorted(taken) == sorted(lapsed)


def test_a_stale_holder_and_a_new_taker_never_both_submit(store: Store, now: datetime) -> None:
    """A lapsed lease races the reviewer taking it over: exactly one piece of work lands."""
    later = now + timedelta(minutes=POLICY.lease_minutes + 1)
    for round_ in range(6):
        queued_item(store)
        old, new = reviewer(store, f"old{round_}"), reviewer(store, f"new{round_}")
        stale = queue.next_task(store.db, old, POLICY, now)
        assert stale is not None

        def late_submit(stale: Lease = stale, old: Reviewer = old) -> str:
            try:
                queue.submit(store.db, store.keyring, old, stale.lease_id, TIMER, POLICY, later)
            except LeaseLost:
                return "lost"
            return "submitted"

        def take_over(new: Reviewer = new) -> str:
            lease = queue.next_task(store.db, new, POLICY, later)
            if lease is None:
                return "nothing"
            queue.submit(
                store.db, store.keyring, new, lease.lease_id, Submission("hi"), POLICY, later
            )
            return "submitted"

        outcomes = sorted(all_at_once([late_submit, take_over]))
        assert outcomes in (["lost", "submitted"], ["nothing", "submitted"])
        with store.db.read() as session:
            per_task = Counter(session.scalars(select(Annotation.task_id)))
        assert set(per_task.values()) == {1}
