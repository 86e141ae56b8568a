"""A hash-chained audit log: each event's hash covers its content and the previous hash,
so deleting, reordering or editing any past event breaks every hash after it.

The chain alone cannot tell a truncated tail, or a chain rewritten from scratch with
recomputed hashes, from the real thing: signed checkpoints kept outside the database
(``audit/checkpoints.py``) pin its head, and ``audit/verification.py`` checks both.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from earmuff.store.models import AuditEvent, utcnow

GENESIS = "0" * 64
APPENDED = "earmuff.audit.appended_seq"
"""``session.info`` key: the position of the last event a session appended, read after
its commit by whatever writes checkpoints."""
STREAM_BATCH = 2000


class AuditChainBroken(Exception):
    """The log was altered; ``event_id`` is the first event whose hash does not hold."""

    def __init__(self, event_id: int, reason: str) -> None:
        super().__init__(f"audit event {event_id}: {reason}")
        self.event_id = event_id


def event_hash(
    prev_hash: str, occurred_at: datetime, actor: str, action: str, subject: str, details: Any
) -> str:
    body = json.dumps(
        [prev_hash, occurred_at.isoformat(), actor, action, subject, details],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    session: Session, actor: str, action: str, subject: str, details: dict[str, Any] | None = None
) -> AuditEvent:
    """Append one event inside the caller's transaction.

    Appends are serialised so two writers never chain onto the same predecessor:
    PostgreSQL takes a transaction-scoped advisory lock; SQLite's ``BEGIN IMMEDIATE``
    already holds the database's single write lock.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(7342001)"))
    last = session.execute(
        select(AuditEvent.seq, AuditEvent.hash).order_by(AuditEvent.seq.desc()).limit(1)
    ).first()
    seq, prev_hash = (last.seq + 1, last.hash) if last is not None else (1, GENESIS)
    occurred_at = utcnow()
    details = details or {}
    event = AuditEvent(
        seq=seq,
        occurred_at=occurred_at,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
        prev_hash=prev_hash,
        hash=event_hash(prev_hash, occurred_at, actor, action, subject, details),
    )
    session.add(event)
    session.flush()
    session.info[APPENDED] = seq
    return event


@dataclass(frozen=True)
class ChainLink:
    """One event as the verifier sees it: only what the hash covers, plus its place."""

    id: int
    seq: int
    hash: str


def walk(session: Session) -> Iterator[ChainLink]:
    """Every event in id order, each checked against the one before it, or raise.

    Rows are streamed in batches and nothing is kept but the previous hash, so memory
    stays flat however long the log is.
    """
    columns = (
        AuditEvent.id,
        AuditEvent.seq,
        AuditEvent.occurred_at,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.subject,
        AuditEvent.details,
        AuditEvent.prev_hash,
        AuditEvent.hash,
    )
    rows = session.execute(
        select(*columns).order_by(AuditEvent.id).execution_options(yield_per=STREAM_BATCH)
    )
    expected_prev = GENESIS
    for position, row in enumerate(rows, start=1):
        if row.prev_hash != expected_prev:
            raise AuditChainBroken(row.id, "does not follow the event before it")
        digest = event_hash(
            row.prev_hash, row.occurred_at, row.actor, row.action, row.subject, row.details
        )
        if digest != row.hash:
            raise AuditChainBroken(row.id, "content does not match its hash")
        if row.seq != position:
            raise AuditChainBroken(row.id, f"is numbered {row.seq} but is event {position}")
        expected_prev = row.hash
        yield ChainLink(id=row.id, seq=position, hash=row.hash)


def verify(session: Session) -> int:
    """Recompute the chain from the start; return the number of events, or raise.

    The chain only: see ``audit.verification.verify_log`` for the signed checkpoints.
    """
    return sum(1 for _ in walk(session))
