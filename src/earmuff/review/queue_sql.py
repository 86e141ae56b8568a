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
    Boolean,
    ColumnClause,
    and_,
    bindparam,
    cast,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    text,
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

LEASE_COMMITS_WITHOUT_WAITING = text("SET LOCAL synchronous_commit TO OFF")
"""A hand-out need not wait for its commit to reach the disk. Visibility and locks are
unchanged (nobody else can take the task); only a crash in the next fraction of a
second could forget the lease, and then the task is simply queued again. A submission
waits as usual, and its flush makes the lease before it durable too."""

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


# PostgreSQL runs data-modifying statements inside WITH, so there the lease and its
# grant are one statement, and so are a submission's finishing, recording and closing;
# SQLite runs the statements above one by one, in the same transaction.

_claimed = CLAIM.cte("claimed")
CLAIM_AND_GRANT = (
    insert(GRANTS)
    .add_cte(_claimed)
    .from_select(
        ["lease_id", "task_id", "review_item_id", "staff_id", "pool", "granted_at"],
        select(
            bindparam("new_lease", type_=GRANTS.c.lease_id.type),
            _claimed.c.id,
            _claimed.c.review_item_id,
            bindparam("reviewer", type_=GRANTS.c.staff_id.type),
            bindparam("in_pool", type_=GRANTS.c.pool.type),
            bindparam("now", type_=GRANTS.c.granted_at.type),
        ).select_from(_claimed),
    )
    .returning(
        GRANTS.c.task_id,
        GRANTS.c.review_item_id,
        select(_claimed.c.kind).scalar_subquery().label("kind"),
    )
)

_finished = FINISH.cte("finished")
_closed = (
    update(ITEMS)
    .where(
        ITEMS.c.id == bindparam("item"),
        ITEMS.c.status == QUEUED,
        bindparam("closes", type_=Boolean),
        exists(select(_finished.c.id)),
        ~exists().where(
            TASKS.c.review_item_id == bindparam("item"),
            TASKS.c.kind != GOLD,
            TASKS.c.status != DONE,
            TASKS.c.id.not_in(select(_finished.c.id)),
        ),
    )
    .values(status="done")
    .cte("closed")
)
FINISH_RECORD_CLOSE = (
    insert(ANNOTATIONS)
    .add_cte(_finished, _closed)
    .from_select(
        [column.key for column in ANNOTATIONS.columns],
        select(
            *(
                _finished.c.id
                if column.key == "task_id"
                else cast(bindparam(f"a_{column.key}", type_=column.type), column.type)
                for column in ANNOTATIONS.columns
            )
        ).select_from(_finished),
    )
    .returning(ANNOTATIONS.c.task_id)
)
"""Mark the held task done, record the annotation, and close the item if that was its
last open copy (``closes`` false for gold tasks); no row back if the task was not held."""
