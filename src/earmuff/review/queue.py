"""The task queue: one item at a time, under a lease, to a reviewer who may hear it.

"Next task" hands a reviewer one task under a lease: a random id that only its holder
knows, good for ``lease_minutes`` and renewable while they work. Every rule about who
may hear what is applied here, in the query that picks the task, not in the pages:

- a reviewer holds one lease at a time, and asking again returns the one they hold;
- only items in the reviewer's locales;
- never an item they hold, annotated or skipped, so the copies of an overlap item go
  to different people and a skipped item never comes back to the person who skipped it;
- safety-pool items only to reviewers who opted in, and at most ``sensitive_per_shift``
  hand-outs of them per ``shift_hours``; after that, general work only;
- a share ``gold_share`` of hand-outs are gold items (known answers) the reviewer has
  never been given, indistinguishable from the rest on their side;
- a lapsed lease puts its task back in the queue for anyone.

Two reviewers never hold the same task. On PostgreSQL the pick is ``SELECT ... FOR
UPDATE SKIP LOCKED``: concurrent pickers lock different rows instead of queueing on the
same one. On SQLite every write transaction holds the database's single write lock from
its start (``Database.transaction``), so a pick and its lease are one atomic step.

Lock order, to keep PostgreSQL free of deadlocks: a reviewer's own row, then an item,
then its tasks.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType

from sqlalchemy import ColumnElement, Select, exists, func, select, true, update
from sqlalchemy.orm import Session

from earmuff.audit.log import record
from earmuff.config.policy import WorkbenchPolicy
from earmuff.pipeline.screen import LEXICON
from earmuff.review.agreement import transcript_wer
from earmuff.review.escalation import open_case
from earmuff.review.item_state import in_play, in_play_clause
from earmuff.store.crypto import KeyRing
from earmuff.store.db import Database
from earmuff.store.models import (
    Annotation,
    GoldAnswer,
    LeaseGrant,
    ReviewItem,
    ReviewTask,
    StaffUser,
    new_id,
)
from earmuff.store.review_items import (
    ANNOTATION_TEXT,
    GOLD_TEXT,
    open_item_text,
    seal_item_text,
)

FLAGS = (
    "no_wake_word",
    "unintelligible",
    "not_for_this_locale",
    "pii_leak",
    "sensitive",
    "possible_crime",
    "someone_in_danger",
)
EXPLAINS_EMPTY_TRANSCRIPT = frozenset({"no_wake_word", "unintelligible", "not_for_this_locale"})
URGENCY = ("someone_in_danger", "possible_crime", "sensitive")
"""Escalating flags, most urgent first: a submission with several opens one case, for
the most urgent."""
SKIP_REASONS = ("no_audio", "wrong_language", "too_distressing", "technical_problem", "other")
GOLD_MAKERS = ("qa_reviewer",)
MAX_TRANSCRIPT_CHARS = 2000
MAX_SLOT_CHARS = 200
WITHDRAWN_AS: Mapping[str, str] = MappingProxyType(
    {"pii_leak": "pulled", "escalated": "escalated", "consent_withdrawn": "withdrawn"}
)
"""Why an item leaves the queue, and the status it gets for it."""
KEPT_STATUSES = ("escalated", "deleted")
"""Statuses a withdrawal does not overwrite: an escalated item stays with the safety
team, and a deleted one is gone."""


class LeaseLost(Exception):
    """The lease is no longer the caller's: it lapsed and someone else took the task, it
    was never theirs, the task was finished, or the item was withdrawn."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidSubmission(ValueError):
    """A submission or skip the policy's schema does not allow; ``field`` names the part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class GoldRefused(ValueError):
    """An annotation that cannot become a gold answer."""


@dataclass(frozen=True)
class Reviewer:
    """The person asking, as the queue needs them: a plain value, safe to pass around."""

    id: str
    role: str
    locales: tuple[str, ...]
    safety_pool: bool

    @classmethod
    def of(cls, user: StaffUser) -> Reviewer:
        locales = tuple(part.strip() for part in user.locales.split(",") if part.strip())
        return cls(id=user.id, role=user.role, locales=locales, safety_pool=user.safety_pool)


@dataclass(frozen=True)
class Lease:
    """A task held by one reviewer until ``expires_at``.

    ``kind`` is for the server (grading gold work): pages must not show it, or a
    reviewer could tell a gold item from any other.
    """

    lease_id: str
    task_id: str
    review_item_id: str
    kind: str
    pool: str
    locale: str
    started_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Submission:
    """What a reviewer made of the item they hold."""

    transcript: str
    intent: str | None = None
    slots: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    sensitive_category: str | None = None


@dataclass(frozen=True)
class ShiftCounts:
    """A reviewer's own figures for the current shift, for their start page."""

    done: int
    sensitive: int
    sensitive_cap: int


def _chance() -> float:
    """A uniform draw in [0, 1) from the system's randomness: gold hand-outs must not
    follow a pattern a reviewer could learn."""
    return secrets.randbelow(2**53) / 2**53


def next_task(
    db: Database,
    reviewer: Reviewer,
    policy: WorkbenchPolicy,
    now: datetime,
    *,
    draw: Callable[[], float] = _chance,
) -> Lease | None:
    """The lease the reviewer holds, or a new one on the task the rules give them;
    ``None`` when nothing is left for them."""
    with db.transaction() as session:
        _lock_reviewer(session, reviewer.id)
        held = _live_lease(session, reviewer.id, now)
        if held is not None:
            return held
        pass
        if not reviewer.locales:
            return None
        pools = _pools(session, reviewer, policy, now)
        task = None
        if draw() < policy.gold_share:
            task = _gold_task(session, reviewer, pools, now)
        if task is None:
            task = _claim(session, reviewer, pools, now)
        if task is None:
            return None
        return _grant(session, task, reviewer.id, policy, now)


def current_lease(session: Session, reviewer: Reviewer, now: datetime) -> Lease | None:
    """The live lease the reviewer holds, if any."""
    return _live_lease(session, reviewer.id, now)


def renew(
    db: Database, reviewer: Reviewer, lease_id: str, policy: WorkbenchPolicy, now: datetime
) -> Lease:
    """Extend the lease by ``lease_minutes`` from now.

    A lapsed lease can still be renewed while nobody else has taken its task: the
    reviewer was working, and their work is not lost to a slow network.
    """
    with db.transaction() as session:
        task = _held_task(session, reviewer, lease_id)
        task.lease_expires_at = now + timedelta(minutes=policy.lease_minutes)
        grant = session.get(LeaseGrant, lease_id)
        assert grant is not None
        return _lease_of(task, grant.granted_at)


def submit(
    db: Database,
    keyring: KeyRing,
    reviewer: Reviewer,
    lease_id: str,
    submission: Submission,
    policy: WorkbenchPolicy,
    now: datetime,
) -> Annotation:
    """Record the reviewer's work on the task they hold, and act on its flags.

    ``pii_leak`` pulls the item from every queue at once and audits it; ``sensitive``,
    ``possible_crime`` and ``someone_in_danger`` take it out of every other queue and
    open a safety case, in the same transaction. The submission is kept either way.
    """
    transcript = _validated(submission, policy)
    with db.transaction() as session:
        item, task = _lock_held(session, reviewer, lease_id)
        staff = session.get(StaffUser, reviewer.id)
        grant = session.get(LeaseGrant, lease_id)
        assert staff is not None and grant is not None
        annotation = Annotation(
            id=new_id(),
            task_id=task.id,
            review_item_id=item.id,
            staff_id=staff.id,
            staff_role=staff.role,
            outcome="submitted",
            intent=submission.intent,
            slots=dict(submission.slots),
            flags=_flag_details(submission),
            started_at=grant.granted_at,
            submitted_at=now,
        )
        annotation.transcript_sealed = seal_item_text(keyring, item, ANNOTATION_TEXT, transcript)
        if task.kind == "gold":
            annotation.gold_wer = _gold_wer(session, keyring, item, transcript)
        session.add(annotation)
        _finish(task, reviewer.id, now)
        session.flush()
        _act_on_flags(session, item, staff, annotation, submission, policy, now)
        _close_if_finished(session, item)
        return annotation


def skip(db: Database, reviewer: Reviewer, lease_id: str, reason: str, now: datetime) -> Annotation:
    """Give the task back with a reason: it returns to the queue for others and never
    comes back to this reviewer."""
    if reason not in SKIP_REASONS:
        raise InvalidSubmission("reason", f"a skip reason is one of {', '.join(SKIP_REASONS)}")
    with db.transaction() as session:
        item, task = _lock_held(session, reviewer, lease_id)
        staff = session.get(StaffUser, reviewer.id)
        grant = session.get(LeaseGrant, lease_id)
        assert staff is not None and grant is not None
        annotation = Annotation(
            id=new_id(),
            task_id=task.id,
            review_item_id=item.id,
            staff_id=staff.id,
            staff_role=staff.role,
            outcome="skipped",
            skip_reason=reason,
            slots={},
            flags={},
            started_at=grant.granted_at,
            submitted_at=now,
        )
        session.add(annotation)
        _hand_back(task)
        session.flush()
        return annotation


def release(db: Database, reviewer: Reviewer, lease_id: str, now: datetime) -> bool:
    """Hand the task back without a mark (the reviewer stops for the day): it returns
    to the queue, this reviewer included. False if they no longer held it."""
    with db.transaction() as session:
        try:
            task = _held_task(session, reviewer, lease_id)
        except LeaseLost:
            return False
        _hand_back(task)
        return True


def withdraw_item(session: Session, review_item_id: str, reason: str) -> int:
    """Take the item out of every queue and end every lease on it; the number of tasks
    withdrawn.

    ``reason`` is one of :data:`WITHDRAWN_AS` and sets the item's status (``pii_leak``:
    pulled, ``escalated``, ``consent_withdrawn``: withdrawn). Finished tasks and their
    annotations stay. A holder's next renew or submit raises :class:`LeaseLost`.
    """
    if reason not in WITHDRAWN_AS:
        raise ValueError(f"an item is withdrawn for one of {', '.join(WITHDRAWN_AS)}")
    item = session.get(ReviewItem, review_item_id, with_for_update=True, populate_existing=True)
    if item is None:
        raise LookupError(f"no review item {review_item_id}")
    if item.status not in KEPT_STATUSES:
        item.status = WITHDRAWN_AS[reason]
    result = session.execute(
        update(ReviewTask)
        .where(
            ReviewTask.review_item_id == review_item_id,
            ReviewTask.status.in_(("queued", "leased")),
        )
        .values(status="withdrawn")
        .execution_options(synchronize_session="fetch")
    )
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def shift_counts(
    session: Session, reviewer: Reviewer, policy: WorkbenchPolicy, now: datetime
) -> ShiftCounts:
    """Items done and sensitive items handed out in the reviewer's current shift."""
    since = now - timedelta(hours=policy.shift_hours)
    done = session.scalar(
        select(func.count())
        .select_from(Annotation)
        .where(
            Annotation.staff_id == reviewer.id,
            Annotation.outcome == "submitted",
            Annotation.submitted_at > since,
        )
    )
    return ShiftCounts(
        done=done or 0,
        sensitive=_sensitive_handed_out(session, reviewer.id, since),
        sensitive_cap=policy.sensitive_per_shift,
    )


def make_gold(
    db: Database, keyring: KeyRing, qa_reviewer: Reviewer, annotation_id: str
) -> GoldAnswer:
    """Make a checked annotation the known answer of its item; audited.

    From then on the item is handed out, now and then, as a gold task to reviewers who
    were never given it, and their work is graded against this answer. Making it again
    from another annotation replaces the answer.
    """
    if qa_reviewer.role not in GOLD_MAKERS:
        raise PermissionError("only a QA reviewer sets gold answers")
    with db.transaction() as session:
        annotation = session.get(Annotation, annotation_id)
        if annotation is None:
            raise LookupError(f"no annotation {annotation_id}")
        if annotation.outcome != "submitted" or annotation.transcript_sealed is None:
            raise GoldRefused("a skipped task has no answer to grade others by")
        if annotation.flags:
            raise GoldRefused("a flagged annotation is no answer to grade others by")
        item = session.get(ReviewItem, annotation.review_item_id, with_for_update=True)
        if item is None or not in_play(item):
            raise GoldRefused("the item is no longer in play")
        transcript = open_item_text(keyring, item, ANNOTATION_TEXT, annotation.transcript_sealed)
        gold = session.get(GoldAnswer, item.id) or GoldAnswer(review_item_id=item.id)
        gold.transcript_sealed = seal_item_text(keyring, item, GOLD_TEXT, transcript)
        gold.intent = annotation.intent
        gold.created_by_id = qa_reviewer.id
        session.add(gold)
        session.flush()
        record(
            session,
            f"staff:{qa_reviewer.id}",
            "review.gold_set",
            f"review_item:{item.id}",
            {"annotation": annotation.id},
        )
        return gold


def _validated(submission: Submission, policy: WorkbenchPolicy) -> str:
    """The transcript to keep, once every part of the submission fits the schema."""
    transcript = submission.transcript.strip()
    if len(transcript) > MAX_TRANSCRIPT_CHARS:
        raise InvalidSubmission(
            "transcript", f"a transcript is at most {MAX_TRANSCRIPT_CHARS} characters"
        )
    if any(ch != "\n" and (ord(ch) < 32 or ord(ch) == 127) for ch in transcript):
        raise InvalidSubmission("transcript", "the transcript holds control characters")
    unknown = [flag for flag in submission.flags if flag not in FLAGS]
    if unknown:
        raise InvalidSubmission(
            "flags", f"unknown flag {unknown[0]!r}; flags are {', '.join(FLAGS)}"
        )
    flags = set(submission.flags)
    if not transcript and not flags & EXPLAINS_EMPTY_TRANSCRIPT:
        raise InvalidSubmission(
            "transcript",
            "write what was said, or flag no wake word, unintelligible or not for this locale",
        )
    if submission.intent is not None and submission.intent not in policy.intents:
        raise InvalidSubmission(
            "intent",
            f"unknown intent {submission.intent!r}; intents are {', '.join(policy.intents)}",
        )
    for name, value in submission.slots.items():
        if name not in policy.slots:
            raise InvalidSubmission(
                "slots", f"unknown slot {name!r}; slots are {', '.join(policy.slots)}"
            )
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_SLOT_CHARS:
            raise InvalidSubmission(
                "slots", f"slot {name!r} needs a value of 1 to {MAX_SLOT_CHARS} characters"
            )
    category = submission.sensitive_category
    if "sensitive" in flags:
        if category not in LEXICON:
            raise InvalidSubmission(
                "sensitive_category",
                f"the sensitive flag needs a category, one of {', '.join(LEXICON)}",
            )
    elif category is not None:
        raise InvalidSubmission("sensitive_category", "a category goes with the sensitive flag")
    return transcript


def _flag_details(submission: Submission) -> dict[str, object]:
    return {
        flag: submission.sensitive_category if flag == "sensitive" else True
        for flag in FLAGS
        if flag in submission.flags
    }


def _act_on_flags(
    session: Session,
    item: ReviewItem,
    staff: StaffUser,
    annotation: Annotation,
    submission: Submission,
    policy: WorkbenchPolicy,
    now: datetime,
) -> None:
    """Pull or escalate the item. With both a PII leak and an escalating flag the item
    is escalated (the safety team must still hear it) and the leak is audited too."""
    urgent = [flag for flag in URGENCY if flag in submission.flags]
    leaked = "pii_leak" in submission.flags
    if leaked or urgent:
        withdraw_item(session, item.id, "escalated" if urgent else "pii_leak")
    if leaked:
        record(
            session,
            f"staff:{staff.id}",
            "review.item_pulled",
            f"review_item:{item.id}",
            {"reason": "pii_leak", "annotation": annotation.id},
        )
    if urgent:
        category = submission.sensitive_category if "sensitive" in submission.flags else None
        open_case(session, item.id, urgent[0], category, staff, policy, now)


def _gold_wer(
    session: Session, keyring: KeyRing, item: ReviewItem, transcript: str
) -> float | None:
    gold = session.get(GoldAnswer, item.id)
    if gold is None:
        return None
    answer = open_item_text(keyring, item, GOLD_TEXT, gold.transcript_sealed)
    return transcript_wer(answer, transcript)


def _close_if_finished(session: Session, item: ReviewItem) -> None:
    """A queued item whose every task (gold tasks aside) is done is done."""
    if item.status != "queued":
        return
    open_tasks = session.scalar(
        select(func.count())
        .select_from(ReviewTask)
        .where(
            ReviewTask.review_item_id == item.id,
            ReviewTask.kind != "gold",
            ReviewTask.status != "done",
        )
    )
    if not open_tasks:
        item.status = "done"


def _lock_reviewer(session: Session, reviewer_id: str) -> None:
    """Serialise one reviewer's own requests (two tabs asking at once get one lease);
    other reviewers are not held up. A no-op lock on SQLite, whose writers queue anyway."""
    active = session.scalar(
        select(StaffUser.active).where(StaffUser.id == reviewer_id).with_for_update(key_share=True)
    )
    if not active:
        raise PermissionError("no active staff account for this reviewer")


def _live_lease(session: Session, reviewer_id: str, now: datetime) -> Lease | None:
    row = session.execute(
        select(ReviewTask, LeaseGrant.granted_at)
        .join(LeaseGrant, LeaseGrant.lease_id == ReviewTask.lease_id)
        .where(
            ReviewTask.lease_holder_id == reviewer_id,
            ReviewTask.status == "leased",
            ReviewTask.lease_expires_at > now,
        )
        .limit(1)
    ).first()
    return None if row is None else _lease_of(row[0], row[1])


def _release_lapsed(session: Session, reviewer_id: str, now: datetime) -> None:
    """Before a reviewer gets a new lease, any lapsed one of theirs goes back to the
    queue, so an old lease can never be renewed into a second one held at once."""
    lapsed = session.scalars(
        select(ReviewTask)
        .where(
            ReviewTask.lease_holder_id == reviewer_id,
            ReviewTask.status == "leased",
            ReviewTask.lease_expires_at <= now,
        )
        .with_for_update()
    )
    for task in lapsed:
        _hand_back(task)


def _hand_back(task: ReviewTask) -> None:
    """Back to the queue, keeping its place; a gold task was made for one reviewer and
    goes away instead."""
    if task.kind == "gold":
        task.status = "withdrawn"
        return
    task.status = "queued"
    task.lease_id = None
    task.lease_holder_id = None
    task.lease_expires_at = None


def _finish(task: ReviewTask, reviewer_id: str, now: datetime) -> None:
    task.status = "done"
    task.completed_by_id = reviewer_id
    task.completed_at = now


def _pools(
    session: Session, reviewer: Reviewer, policy: WorkbenchPolicy, now: datetime
) -> tuple[str, ...]:
    """The pools to draw from, in order: the safety pool first for those who chose it
    (nobody else may take its items) until their shift's cap, then general work."""
    if not reviewer.safety_pool:
        return ("general",)
    since = now - timedelta(hours=policy.shift_hours)
    if _sensitive_handed_out(session, reviewer.id, since) >= policy.sensitive_per_shift:
        return ("general",)
    return ("safety", "general")


def _sensitive_handed_out(session: Session, reviewer_id: str, since: datetime) -> int:
    count = session.scalar(
        select(func.count())
        .select_from(LeaseGrant)
        .where(
            LeaseGrant.staff_id == reviewer_id,
            LeaseGrant.granted_at > since,
            LeaseGrant.pool == "safety",
        )
    )
    return count or 0


def _not_done_by(reviewer_id: str) -> Select[tuple[int]]:
    """Tasks whose item the reviewer has not annotated or skipped."""
    return select(1).where(
        Annotation.review_item_id == ReviewTask.review_item_id,
        Annotation.staff_id == reviewer_id,
    )


def _claim(
    session: Session, reviewer: Reviewer, pools: tuple[str, ...], now: datetime
) -> ReviewTask | None:
    """Lock the first task the reviewer may take: a lapsed lease first (it has waited
    longest), then the oldest queued task, pool by pool, locale by locale.

    One query per locale keeps each an ordered walk of the partial index on queued
    tasks, stopping at the first row nobody else holds.
    """
    mine = ~exists(_not_done_by(reviewer.id))
    for pool in pools:
        lapsed = session.scalars(
            select(ReviewTask)
            .where(
                ReviewTask.status == "leased",
                ReviewTask.lease_expires_at <= now,
                ReviewTask.pool == pool,
                ReviewTask.locale.in_(reviewer.locales),
                ReviewTask.kind != "gold",
                mine,
            )
            .order_by(ReviewTask.lease_expires_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        ).first()
        if lapsed is not None:
            return lapsed
        for locale in reviewer.locales:
            queued = session.scalars(
                select(ReviewTask)
                .where(
                    ReviewTask.status == "queued",
                    ReviewTask.pool == pool,
                    ReviewTask.locale == locale,
                    mine,
                )
                .order_by(ReviewTask.available_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if queued is not None:
                return queued
    return None


def _gold_task(
    session: Session, reviewer: Reviewer, pools: tuple[str, ...], now: datetime
) -> ReviewTask | None:
    """A new task, made for this reviewer, on a gold item they were never given.

    Gold tasks whose leases lapsed are withdrawn first: each was made for one reviewer,
    and left standing it would keep its item looking unfinished.
    """
    lapsed_gold = (
        select(ReviewTask.id)
        .where(
            ReviewTask.status == "leased",
            ReviewTask.lease_expires_at <= now,
            ReviewTask.kind == "gold",
        )
        .with_for_update(skip_locked=True)
    )
    session.execute(
        update(ReviewTask)
        .where(ReviewTask.id.in_(lapsed_gold))
        .values(status="withdrawn")
        .execution_options(synchronize_session=False)
    )
    given = exists().where(
        LeaseGrant.review_item_id == ReviewItem.id, LeaseGrant.staff_id == reviewer.id
    )
    annotated = exists().where(
        Annotation.review_item_id == ReviewItem.id, Annotation.staff_id == reviewer.id
    )
    pool_rule: ColumnElement[bool] = (
        true() if "safety" in pools else ReviewItem.sensitive_category.is_(None)
    )
    picked = session.execute(
        select(GoldAnswer.review_item_id, ReviewItem.locale, ReviewItem.sensitive_category)
        .join(ReviewItem, ReviewItem.id == GoldAnswer.review_item_id)
        .where(
            ReviewItem.locale.in_(reviewer.locales),
            in_play_clause(),
            pool_rule,
            ~given,
            ~annotated,
        )
        .order_by(func.random())
        .limit(1)
        .with_for_update(skip_locked=True, of=GoldAnswer)
    ).first()
    if picked is None:
        return None
    item_id, locale, category = picked
    last_slot = session.scalar(
        select(func.max(ReviewTask.slot)).where(ReviewTask.review_item_id == item_id)
    )
    task = ReviewTask(
        id=new_id(),
        review_item_id=item_id,
        slot=(last_slot if last_slot is not None else -1) + 1,
        kind="gold",
        pool="safety" if category else "general",
        locale=locale,
        status="queued",
        available_at=now,
    )
    session.add(task)
    return task


def _grant(
    session: Session, task: ReviewTask, reviewer_id: str, policy: WorkbenchPolicy, now: datetime
) -> Lease:
    task.status = "leased"
    task.lease_id = new_id()
    task.lease_holder_id = reviewer_id
    task.lease_expires_at = now + timedelta(minutes=policy.lease_minutes)
    session.flush()
    session.add(
        LeaseGrant(
            lease_id=task.lease_id,
            task_id=task.id,
            review_item_id=task.review_item_id,
            staff_id=reviewer_id,
            pool=task.pool,
            granted_at=now,
        )
    )
    session.flush()
    return _lease_of(task, now)


def _held_task(session: Session, reviewer: Reviewer, lease_id: str) -> ReviewTask:
    """The task the reviewer holds under ``lease_id``, locked; else :class:`LeaseLost`."""
    task = session.scalar(
        select(ReviewTask)
        .where(ReviewTask.lease_id == lease_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    _check_held(task, reviewer)
    assert task is not None
    return task


def _lock_held(
    session: Session, reviewer: Reviewer, lease_id: str
) -> tuple[ReviewItem, ReviewTask]:
    """The item and the task held under ``lease_id``, both locked, item first: two
    submissions on one item are serialised, so the last one sees the item finished."""
    item_id = session.scalar(
        select(ReviewTask.review_item_id).where(ReviewTask.lease_id == lease_id)
    )
    if item_id is None:
        raise LeaseLost("this lease has ended: the task went back to the queue")
    item = session.get(ReviewItem, item_id, with_for_update=True, populate_existing=True)
    task = _held_task(session, reviewer, lease_id)
    if item is None or not in_play(item):
        raise LeaseLost("the item was withdrawn from the queue")
    return item, task


def _check_held(task: ReviewTask | None, reviewer: Reviewer) -> None:
    if task is None or task.lease_holder_id != reviewer.id:
        raise LeaseLost("this lease has ended: the task went back to the queue")
    if task.status == "withdrawn":
        raise LeaseLost("the item was withdrawn from the queue")
    if task.status == "done":
        raise LeaseLost("this task was already submitted")
    if task.status != "leased":
        raise LeaseLost("this lease has ended: the task went back to the queue")


def _lease_of(task: ReviewTask, started_at: datetime) -> Lease:
    assert task.lease_id is not None and task.lease_expires_at is not None
    return Lease(
        lease_id=task.lease_id,
        task_id=task.id,
        review_item_id=task.review_item_id,
        kind=task.kind,
        pool=task.pool,
        locale=task.locale,
        started_at=started_at,
        expires_at=task.lease_expires_at,
    )
