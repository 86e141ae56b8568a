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

Two reviewers never hold the same task. The pick is one ``UPDATE ... WHERE id =
(SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING``: on PostgreSQL concurrent
pickers lock different rows instead of queueing on the same one; on SQLite every write
transaction holds the database's single write lock from its start
(``Database.transaction``), so the pick is atomic there too. A unique index on the
holder of a leased task makes "one lease per reviewer" the database's rule as well:
two tabs asking at once cannot both commit one.

Every request is a handful of round trips (the pick and its lease are one), because
under load each round trip costs more than the work it carries; the statements of the
hot path are built once (``queue_sql``). Locks are taken item first, then its tasks,
so PostgreSQL never finds a deadlock.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from earmuff.audit.log import record
from earmuff.config.policy import WorkbenchPolicy
from earmuff.review import queue_sql as sql
from earmuff.review.escalation import open_case
from earmuff.review.gold import GoldRefused, gold_wer, make_gold
from earmuff.review.item_state import in_play, in_play_clause
from earmuff.review.reviewer import Reviewer
from earmuff.review.submission import (
    FLAGS,
    SKIP_REASONS,
    URGENCY,
    InvalidSubmission,
    Submission,
    check_skip_reason,
    flag_details,
    validated,
)
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
from earmuff.store.review_items import ANNOTATION_TEXT, seal_item_text

__all__ = [
    "FLAGS",
    "SKIP_REASONS",
    "URGENCY",
    "GoldRefused",
    "InvalidSubmission",
    "Lease",
    "LeaseLost",
    "Reviewer",
    "ShiftCounts",
    "Submission",
    "current_lease",
    "make_gold",
    "next_task",
    "release",
    "renew",
    "shift_counts",
    "skip",
    "submit",
    "withdraw_item",
]

WITHDRAWN_AS: Mapping[str, str] = MappingProxyType(
    {"pii_leak": "pulled", "escalated": "escalated", "consent_withdrawn": "withdrawn"}
)
"""Why an item leaves the queue, and the status it gets for it."""
KEPT_STATUSES = ("escalated", "deleted")
"""Statuses a withdrawal does not overwrite: an escalated item stays with the safety
team, and a deleted one is gone."""
ENDED = "this lease has ended: the task went back to the queue"
WITHDRAWN = "the item was withdrawn from the queue"


class LeaseLost(Exception):
    """The lease is no longer the caller's: it lapsed and someone else took the task, it
    was never theirs, the task was finished, or the item was withdrawn."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
    ``None`` when nothing is left for them.

    If another request of the same reviewer commits a lease first, this one finds the
    unique index in its way and asks again: it then returns that lease.
    """
    gold = draw() < policy.gold_share
    try:
        return _next_task(db, reviewer, policy, now, gold)
    except IntegrityError:
        return _next_task(db, reviewer, policy, now, gold)


def _next_task(
    db: Database, reviewer: Reviewer, policy: WorkbenchPolicy, now: datetime, gold: bool
) -> Lease | None:
    with db.transaction() as session:
        if _on_postgresql(session):
            session.execute(sql.LEASE_COMMITS_WITHOUT_WAITING)
        rows = session.connection().execute(sql.REVIEWER_LEASES, {"reviewer": reviewer.id}).all()
        if not rows or not rows[0].active:
            raise PermissionError("no active staff account for this reviewer")
        held = [row for row in rows if row.id is not None]
        if any(row.lease_expires_at > now for row in held):
            return current_lease(session, reviewer, now)
        for row in held:
            _hand_back(session, row.id, row.lease_id, row.kind)
        if not reviewer.locales:
            return None
        pools = _pools(session, reviewer, policy, now)
        lease = _gold_lease(session, reviewer, pools, policy, now) if gold else None
        return lease or _claim(session, reviewer, pools, policy, now)


def current_lease(session: Session, reviewer: Reviewer, now: datetime) -> Lease | None:
    """The live lease the reviewer holds, if any."""
    row = session.execute(
        select(ReviewTask, LeaseGrant.granted_at)
        .join(LeaseGrant, LeaseGrant.lease_id == ReviewTask.lease_id)
        .where(
            ReviewTask.lease_holder_id == reviewer.id,
            ReviewTask.status == "leased",
            ReviewTask.lease_expires_at > now,
        )
    ).first()
    return None if row is None else _lease_of(row[0], row[1])


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
        return _lease_of(task, _granted_at(session, lease_id))


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
    transcript = validated(submission, policy)
    with db.transaction() as session:
        item, kind, started_at = _lock_held(session, reviewer, lease_id)
        values: dict[str, Any] = {
            "id": new_id(),
            "review_item_id": item.id,
            "staff_id": reviewer.id,
            "staff_role": reviewer.role,
            "outcome": "submitted",
            "transcript_sealed": seal_item_text(keyring, item, ANNOTATION_TEXT, transcript),
            "intent": submission.intent,
            "slots": dict(submission.slots),
            "flags": flag_details(submission),
            "skip_reason": None,
            "gold_wer": gold_wer(session, keyring, item, transcript) if kind == "gold" else None,
            "started_at": started_at,
            "submitted_at": now,
        }
        task_id = _finish_and_record(session, reviewer, lease_id, values, kind, now)
        annotation = Annotation(task_id=task_id, **values)
        _act_on_flags(session, item.id, reviewer, annotation.id, submission, policy, now)
        return annotation


def skip(db: Database, reviewer: Reviewer, lease_id: str, reason: str, now: datetime) -> Annotation:
    """Give the task back with a reason: it returns to the queue for others and never
    comes back to this reviewer."""
    check_skip_reason(reason)
    with db.transaction() as session:
        item, _, started_at = _lock_held(session, reviewer, lease_id)
        task = _held_task(session, reviewer, lease_id)
        annotation = Annotation(
            id=new_id(),
            task_id=task.id,
            review_item_id=item.id,
            staff_id=reviewer.id,
            staff_role=reviewer.role,
            outcome="skipped",
            transcript_sealed=None,
            intent=None,
            skip_reason=reason,
            slots={},
            flags={},
            gold_wer=None,
            started_at=started_at,
            submitted_at=now,
        )
        session.connection().execute(sql.RECORD_ANNOTATION, _row_of(annotation))
        _hand_back(session, task.id, lease_id, task.kind)
        return annotation


def release(db: Database, reviewer: Reviewer, lease_id: str, now: datetime) -> bool:
    """Hand the task back without a mark (the reviewer stops for the day): it returns
    to the queue, this reviewer included. False if they no longer held it."""
    with db.transaction() as session:
        try:
            task = _held_task(session, reviewer, lease_id)
        except LeaseLost:
            return False
        _hand_back(session, task.id, lease_id, task.kind)
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
    item = session.get(
        ReviewItem, review_item_id, with_for_update={"key_share": True}, populate_existing=True
    )
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


def _finish_and_record(
    session: Session,
    reviewer: Reviewer,
    lease_id: str,
    values: dict[str, Any],
    kind: str,
    now: datetime,
) -> str:
    """Mark the held task done, record the annotation and close the item if that was
    its last open copy (a gold task never closes one); the task's id, or
    :class:`LeaseLost` if the task is no longer held. One statement on PostgreSQL."""
    connection = session.connection()
    held = {"lease": lease_id, "reviewer": reviewer.id, "done_by": reviewer.id, "at": now}
    if _on_postgresql(session):
        task_id = connection.execute(
            sql.FINISH_RECORD_CLOSE,
            {
                **held,
                **{f"a_{key}": value for key, value in values.items()},
                "item": values["review_item_id"],
                "closes": kind != "gold",
            },
        ).scalar()
    else:
        task_id = connection.execute(sql.FINISH, held).scalar()
        if task_id is not None:
            connection.execute(sql.RECORD_ANNOTATION, {**values, "task_id": task_id})
            _close_if_finished(session, values["review_item_id"], kind)
    if task_id is None:
        _held_task(session, reviewer, lease_id)
        raise LeaseLost(ENDED)
    return str(task_id)


def _on_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _row_of(annotation: Annotation) -> dict[str, Any]:
    return {column.key: getattr(annotation, column.key) for column in sql.ANNOTATIONS.columns}


def _act_on_flags(
    session: Session,
    item_id: str,
    reviewer: Reviewer,
    annotation_id: str,
    submission: Submission,
    policy: WorkbenchPolicy,
    now: datetime,
) -> None:
    """Pull or escalate the item. With both a PII leak and an escalating flag the item
    is escalated (the safety team must still hear it) and the leak is audited too."""
    urgent = [flag for flag in URGENCY if flag in submission.flags]
    leaked = "pii_leak" in submission.flags
    if leaked or urgent:
        withdraw_item(session, item_id, "escalated" if urgent else "pii_leak")
    if leaked:
        record(
            session,
            f"staff:{reviewer.id}",
            "review.item_pulled",
            f"review_item:{item_id}",
            {"reason": "pii_leak", "annotation": annotation_id},
        )
    if urgent:
        category = submission.sensitive_category if "sensitive" in submission.flags else None
        staff = session.get(StaffUser, reviewer.id)
        assert staff is not None
        open_case(session, item_id, urgent[0], category, staff, policy, now)


def _close_if_finished(session: Session, item_id: str, kind: str) -> None:
    """A queued item whose every task (gold tasks aside) is done is done. A single
    task is its item's only one; a gold task never finishes an item."""
    if kind == "gold":
        return
    connection = session.connection()
    if kind == "overlap" and connection.execute(sql.OPEN_COPIES, {"item": item_id}).scalar():
        return
    connection.execute(sql.CLOSE_ITEM, {"item": item_id})


def _granted_at(session: Session, lease_id: str | None) -> datetime:
    granted_at = session.scalar(
        select(LeaseGrant.granted_at).where(LeaseGrant.lease_id == lease_id)
    )
    assert granted_at is not None
    return granted_at


def _hand_back(session: Session, task_id: str, lease_id: str | None, kind: str) -> None:
    """Back to the queue, keeping its place; a gold task was made for one reviewer and
    goes away instead.

    The update names the lease it ends: a lapsed lease that someone else took over a
    moment ago is theirs now, and stays so.
    """
    ended: dict[str, Any] = (
        {"status": "withdrawn"}
        if kind == "gold"
        else {
            "status": "queued",
            "lease_id": None,
            "lease_holder_id": None,
            "lease_expires_at": None,
        }
    )
    session.execute(
        update(ReviewTask)
        .where(
            ReviewTask.id == task_id,
            ReviewTask.lease_id == lease_id,
            ReviewTask.status == "leased",
        )
        .values(**ended)
        .execution_options(synchronize_session="fetch")
    )


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
    count = session.connection().execute(
        sql.SAFETY_HANDED_OUT, {"reviewer": reviewer_id, "since": since}
    )
    return int(count.scalar() or 0)


def _claim(
    session: Session,
    reviewer: Reviewer,
    pools: tuple[str, ...],
    policy: WorkbenchPolicy,
    now: datetime,
) -> Lease | None:
    """Lease the oldest task the reviewer may take, pool by pool, locale by locale,
    and record the grant (in the same statement on PostgreSQL).

    A task whose lease lapsed is as free as a queued one and keeps its place (its
    original age), so it goes out again first. Each pick walks the partial index of
    open tasks in age order, past the few leased ones at its head, and stops at the
    first row nobody else holds; one query per locale keeps the walk ordered.
    """
    connection = session.connection()
    lease_id = new_id()
    expires_at = now + timedelta(minutes=policy.lease_minutes)
    granting = _on_postgresql(session)
    for pool in pools:
        for locale in reviewer.locales:
            row = connection.execute(
                sql.CLAIM_AND_GRANT if granting else sql.CLAIM,
                {
                    "reviewer": reviewer.id,
                    "now": now,
                    "new_lease": lease_id,
                    "expires": expires_at,
                    "in_pool": pool,
                    "in_locale": locale,
                },
            ).first()
            if row is not None:
                task_id, item_id, kind = row
                lease = Lease(lease_id, task_id, item_id, kind, pool, locale, now, expires_at)
                if not granting:
                    _record_grant(session, lease, reviewer.id)
                return lease
    return None


def _gold_lease(
    session: Session,
    reviewer: Reviewer,
    pools: tuple[str, ...],
    policy: WorkbenchPolicy,
    now: datetime,
) -> Lease | None:
    """A new task, made for this reviewer, on a gold item they were never given.

    The item is the first eligible one from a random point of the (random) item ids,
    wrapping round once: a random pick that reads a few rows, not every gold item.
    Gold tasks whose leases lapsed are withdrawn first: each was made for one reviewer,
    and left standing it would keep its item looking unfinished.
    """
    lapsed_gold = (
        select(ReviewTask.id)
        .where(
            ReviewTask.status == sql.LEASED,
            ReviewTask.lease_expires_at <= now,
            ReviewTask.kind == "gold",
        )
        .with_for_update(skip_locked=True, key_share=True)
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
    eligible = (
        select(GoldAnswer.review_item_id, ReviewItem.locale, ReviewItem.sensitive_category)
        .join(ReviewItem, ReviewItem.id == GoldAnswer.review_item_id)
        .where(
            ReviewItem.locale.in_(reviewer.locales),
            in_play_clause(),
            pool_rule,
            ~given,
            ~annotated,
        )
        .order_by(GoldAnswer.review_item_id)
        .limit(1)
        .with_for_update(skip_locked=True, key_share=True, of=GoldAnswer)
    )
    start = new_id()
    picked = (
        session.execute(eligible.where(GoldAnswer.review_item_id >= start)).first()
        or session.execute(eligible.where(GoldAnswer.review_item_id < start)).first()
    )
    if picked is None:
        return None
    item_id, locale, category = picked
    last_slot = session.scalar(
        select(func.max(ReviewTask.slot)).where(ReviewTask.review_item_id == item_id)
    )
    lease = Lease(
        lease_id=new_id(),
        task_id=new_id(),
        review_item_id=item_id,
        kind="gold",
        pool="safety" if category else "general",
        locale=locale,
        started_at=now,
        expires_at=now + timedelta(minutes=policy.lease_minutes),
    )
    session.add(
        ReviewTask(
            id=lease.task_id,
            review_item_id=item_id,
            slot=(last_slot if last_slot is not None else -1) + 1,
            kind="gold",
            pool=lease.pool,
            locale=locale,
            status="leased",
            available_at=now,
            lease_id=lease.lease_id,
            lease_holder_id=reviewer.id,
            lease_expires_at=lease.expires_at,
        )
    )
    session.flush()
    _record_grant(session, lease, reviewer.id)
    return lease


def _record_grant(session: Session, lease: Lease, reviewer_id: str) -> None:
    session.connection().execute(
        sql.RECORD_GRANT,
        {
            "lease_id": lease.lease_id,
            "task_id": lease.task_id,
            "review_item_id": lease.review_item_id,
            "staff_id": reviewer_id,
            "pool": lease.pool,
            "granted_at": lease.started_at,
        },
    )


def _held_task(session: Session, reviewer: Reviewer, lease_id: str) -> ReviewTask:
    """The task the reviewer holds under ``lease_id``, locked; else :class:`LeaseLost`."""
    task = session.scalar(
        select(ReviewTask)
        .where(ReviewTask.lease_id == lease_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if task is None or task.lease_holder_id != reviewer.id:
        raise LeaseLost(ENDED)
    if task.status == "withdrawn":
        raise LeaseLost(WITHDRAWN)
    if task.status == "done":
        raise LeaseLost("this task was already submitted")
    if task.status != "leased":
        raise LeaseLost(ENDED)
    return task


def _lock_held(
    session: Session, reviewer: Reviewer, lease_id: str
) -> tuple[ReviewItem, str, datetime]:
    """The item of the lease, locked (two submissions on one item are serialised, so
    the last one sees the item finished), the task's kind, and when the lease was
    granted. The lease's grant names its task and item; the task is locked after.

    The item comes back as a detached row holding what sealing needs (id, key,
    status), not tracked by the session: the hot path writes with statements.
    """
    row = session.connection().execute(sql.HELD_ITEM, {"lease": lease_id}).first()
    if row is None or row.staff_id != reviewer.id:
        raise LeaseLost(ENDED)
    item = ReviewItem(id=row.id, status=row.status, key_sealed=row.key_sealed)
    if not in_play(item):
        _held_task(session, reviewer, lease_id)
        raise LeaseLost(WITHDRAWN)
    return item, row.kind, row.granted_at


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
