"""Any order of reviewers' actions and the clock keeps the queue's rules.

Hypothesis drives three reviewers through random sequences of taking, submitting,
skipping, renewing and handing back tasks (stale leases included) while the clock jumps
past lease lapses and shift ends, then checks every rule against the database after
each step. It runs on SQLite, where steps are serialised; the thread races in
``test_queue_races.py`` cover true concurrency on both databases.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections import Counter
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select

from earmuff.config import Settings
from earmuff.config.policy import WorkbenchPolicy
from earmuff.review import queue
from earmuff.review.queue import InvalidSubmission, LeaseLost, Reviewer, Submission
from earmuff.store import open_store
from earmuff.store.db import Database
from earmuff.store.models import (
    Annotation,
    Base,
    LeaseGrant,
    ReviewItem,
    ReviewTask,
    utcnow,
)
from earmuff.store.review_items import NewReviewItem, queue_tasks, write_review_audio
from tests.audio_samples import wav
from tests.review.conftest import make_staff

POLICY = WorkbenchPolicy(gold_share=0.0, sensitive_per_shift=2, shift_hours=1, lease_minutes=10)
PEOPLE = (("ana", "en-US", False), ("ben", "en-US,de-DE", True), ("cho", "en-US", True))
AUDIO = wav(0.1, 16_000)
SUBMISSIONS = (
    Submission("set a timer for ten minutes", intent="set_timer"),
    Submission("", flags=("unintelligible",)),
    Submission("call [PERSON] on five five five", flags=("pii_leak",)),
)


class QueueMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._folder = tempfile.TemporaryDirectory(prefix="earmuff-hypothesis-")
        workspace = Path(self._folder.name)
        url = f"sqlite:///{workspace / 'q.db'}"
        schema = Database(url)
        Base.metadata.create_all(schema.engine)
        schema.dispose()
        self.store = open_store(
            Settings.for_workspace(workspace, env={"EARMUFF_DATABASE_URL": url}), migrate=False
        )
        self.now = utcnow()
        with self.store.db.transaction() as session:
            self.people = [
                Reviewer.of(make_staff(session, name, locales=locales, safety_pool=pool))
                for name, locales, pool in PEOPLE
            ]
        self.leases: list[tuple[Reviewer, str]] = []
        self.items = 0

    def teardown(self) -> None:
        self.store.close()
        self._folder.cleanup()

    @rule(
        copies=st.sampled_from([1, 1, 2, 3]),
        locale=st.sampled_from(["en-US", "en-US", "de-DE"]),
        sensitive=st.sampled_from([None, None, "violence"]),
    )
    def add_item(self, copies: int, locale: str, sensitive: str | None) -> None:
        item = write_review_audio(
            self.store.keyring,
            self.store.blobs,
            NewReviewItem(
                audio_wav=AUDIO,
                masked_transcript="set a timer",
                locale=locale,
                duration_s=0.1,
                policy_version="p",
                model_versions={},
                sensitive_category=sensitive,
                expires_at=self.now + timedelta(days=1),
            ),
        )
        with self.store.db.transaction() as session:
            session.add(item)
            session.flush()
            queue_tasks(session, item, copies)
        self.items += 1

    @rule(who=st.integers(0, 2))
    def take(self, who: int) -> None:
        person = self.people[who]
        with self.store.db.read() as session:
            held = queue.current_lease(session, person, self.now)
        lease = queue.next_task(self.store.db, person, POLICY, self.now)
        if held is not None:
            assert lease == held, "a reviewer holds one task at a time"
            return
        if lease is None:
            return
        self.leases.append((person, lease.lease_id))
        assert lease.locale in person.locales
        assert lease.pool == "general" or person.safety_pool
        with self.store.db.read() as session:
            before = session.scalar(
                select(func.count())
                .select_from(Annotation)
                .where(
                    Annotation.review_item_id == lease.review_item_id,
                    Annotation.staff_id == person.id,
                )
            )
        assert before == 0, "never an item the reviewer already annotated or skipped"

    @precondition(lambda self: self.leases)
    @rule(pick=st.integers(0, 1000), what=st.sampled_from(SUBMISSIONS))
    def submit(self, pick: int, what: Submission) -> None:
        person, lease_id = self.leases[pick % len(self.leases)]
        with contextlib.suppress(LeaseLost):
            queue.submit(
                self.store.db, self.store.keyring, person, lease_id, what, POLICY, self.now
            )

    @precondition(lambda self: self.leases)
    @rule(pick=st.integers(0, 1000), reason=st.sampled_from(queue.SKIP_REASONS))
    def skip(self, pick: int, reason: str) -> None:
        person, lease_id = self.leases[pick % len(self.leases)]
        with contextlib.suppress(LeaseLost, InvalidSubmission):
            queue.skip(self.store.db, person, lease_id, reason, self.now)

    @precondition(lambda self: self.leases)
    @rule(pick=st.integers(0, 1000))
    def renew(self, pick: int) -> None:
        person, lease_id = self.leases[pick % len(self.leases)]
        try:
            lease = queue.renew(self.store.db, person, lease_id, POLICY, self.now)
        except LeaseLost:
            return
        assert lease.expires_at > self.now

    @precondition(lambda self: self.leases)
    @rule(pick=st.integers(0, 1000))
    def release(self, pick: int) -> None:
        person, lease_id = self.leases[pick % len(self.leases)]
        queue.release(self.store.db, person, lease_id, self.now)

    @rule(minutes=st.sampled_from([1, 4, 11, 61]))
    def tick(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @invariant()
    def rules_hold(self) -> None:
        with self.store.db.read() as session:
            live = Counter(
                session.scalars(
                    select(ReviewTask.lease_holder_id).where(
                        ReviewTask.status == "leased", ReviewTask.lease_expires_at > self.now
                    )
                )
            )
            assert max(live.values(), default=0) <= 1, "one live lease per reviewer"
            annotations = session.execute(
                select(
                    Annotation.task_id, Annotation.review_item_id, Annotation.staff_id
                ).add_columns(Annotation.outcome)
            ).all()
            assert max(Counter((i, s) for _, i, s, _ in annotations).values(), default=0) <= 1
            submitted = Counter(t for t, _, _, outcome in annotations if outcome == "submitted")
            done = set(session.scalars(select(ReviewTask.id).where(ReviewTask.status == "done")))
            assert set(submitted) == done and max(submitted.values(), default=0) <= 1
            for item in session.scalars(select(ReviewItem)):
                statuses = set(
                    session.scalars(
                        select(ReviewTask.status).where(ReviewTask.review_item_id == item.id)
                    )
                )
                if item.status == "done":
                    assert statuses == {"done"}
                elif item.status == "queued":
                    assert statuses != {"done"} and "withdrawn" not in statuses
                else:
                    assert item.status == "pulled" and not statuses & {"queued", "leased"}
            since = self.now - timedelta(hours=POLICY.shift_hours)
            sensitive = Counter(
                session.scalars(
                    select(LeaseGrant.staff_id).where(
                        LeaseGrant.pool == "safety", LeaseGrant.granted_at > since
                    )
                )
            )
            assert max(sensitive.values(), default=0) <= POLICY.sensitive_per_shift


QueueMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=25, deadline=None)
test_queue_rules_hold_in_any_order = QueueMachine.TestCase
