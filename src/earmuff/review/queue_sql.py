"""The statements of the queue's hot path, built once.

"Next task" and "submit" run for every item every reviewer does. Built per call, each
statement would cost more Python time than the database spends on it; built here, once,
with named parameters, a call only binds values. They run on the session's connection,
inside the caller's transaction.

Status values that partial indexes are defined on are written into the SQL as
constants, not bound: only then can a planner (PostgreSQL's generic plans, SQLite's)
see that a query matches an index's ``WHERE``.
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnClause,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    update,
)

from earmuff.store.models import Base

TASKS = Base.metadata.tables["review_tasks"]
GRANTS = Base.metadata.tables["lease_grants"]
ITEMS = Base.metadata.tables["review_items"]
ANNOTATIONS = Base.metadata.tables["annotations"]
STAFF = Base.metadata.tables["staff_users"]

QUEUED: ColumnClause[str] = literal_column("'queued'")
LEASED: ColumnClause[str] = literal_column("'leased'")
DONE: ColumnClause[str] = literal_column("'done'")
GOLD: ColumnClause[str] = literal_column("'gold'")
SAFETY: ColumnClause[str] = literal_column("'safety'")

REVIEWER_LEASES = (
    select(
        STAFF.c.active,
        TASKS.c.id,
        TASKS.c.review_item_id,
        TASKS.c.kind,
        TASKS.c.pool,
        TASKS.c.locale,
        TASKS.c.lease_id,
        TASKS.c.lease_expires_at,
    )
    .select_from(
        STAFF.outerjoin(
            TASKS, and_(TASKS.c.lease_holder_id == STAFF.c.id, TASKS.c.status == LEASED)
        )
    )
    .where(STAFF.c.id == bindparam("reviewer"))
)
"""Whether the account is active, and the task it holds a lease on (live or lapsed)."""

SAFETY_HANDED_OUT = (
    select(func.count())
    .select_from(GRANTS)
    .where(
        GRANTS.c.staff_id == bindparam("reviewer"),
        GRANTS.c.granted_at > bindparam("since"),
        GRANTS.c.pool == SAFETY,
    )
)

_candidate = TASKS.alias("candidate")
_PICK = (
    select(_candidate.c.id)
    .where(
        _candidate.c.status.in_([QUEUED, LEASED]),
        _candidate.c.pool == bindparam("in_pool"),
        _candidate.c.locale == bindparam("in_locale"),
        or_(
            _candidate.c.status == QUEUED,
            _candidate.c.lease_expires_at <= bindparam("now"),
        ),
        _candidate.c.kind != GOLD,
        ~exists().where(
            ANNOTATIONS.c.review_item_id == _candidate.c.review_item_id,
            ANNOTATIONS.c.staff_id == bindparam("reviewer"),
        ),
    )
    .order_by(_candidate.c.available_at)
    .limit(1)
    .with_for_update(skip_locked=True, key_share=True)
    .scalar_subquery()
)
CLAIM = (
    update(TASKS)
    .where(TASKS.c.id == _PICK)
    .values(
        status="leased",
        lease_id=bindparam("new_lease"),
        lease_holder_id=bindparam("reviewer"),
        lease_expires_at=bindparam("expires"),
    )
    .returning(TASKS.c.id, TASKS.c.review_item_id, TASKS.c.kind)
)
"""Lease the oldest free task of a pool and locale whose item the reviewer has not
done, skipping rows other pickers hold: the pick and the lease in one round trip."""

RECORD_GRANT = insert(GRANTS)

HELD_ITEM = (
    select(
        ITEMS.c.id,
        ITEMS.c.status,
        ITEMS.c.key_sealed,
        TASKS.c.kind,
        GRANTS.c.granted_at,
        GRANTS.c.staff_id,
    )
    .select_from(
        GRANTS.join(ITEMS, ITEMS.c.id == GRANTS.c.review_item_id).join(
            TASKS, TASKS.c.id == GRANTS.c.task_id
        )
    )
    .where(GRANTS.c.lease_id == bindparam("lease"))
    .with_for_update(key_share=True, of=ITEMS)
)
"""The item of a lease, locked, with the task's kind and when the lease was granted."""

FINISH = (
    update(TASKS)
    .where(
        TASKS.c.lease_id == bindparam("lease"),
        TASKS.c.lease_holder_id == bindparam("reviewer"),
        TASKS.c.status == LEASED,
    )
    .values(status="done", completed_by_id=bindparam("done_by"), completed_at=bindparam("at"))
    .returning(TASKS.c.id)
)

RECORD_ANNOTATION = insert(ANNOTATIONS)

OPEN_COPIES = (
    select(func.count())
    .select_from(TASKS)
    .where(
        TASKS.c.review_item_id == bindparam("item"),
        TASKS.c.kind != GOLD,
        TASKS.c.status != DONE,
    )
)

CLOSE_ITEM = (
    update(ITEMS)
    .where(ITEMS.c.id == bindparam("item"), ITEMS.c.status == QUEUED)
    .values(status="done")
)
