"""A hash-chained audit log: each event's hash covers its content and the previous hash,
so deleting, reordering or editing any past event breaks every hash after it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from earmuff.store.models import AuditEvent, utcnow

GENESIS = "0" * 64


class AuditChainBroken(Exception):
    """The log was altered; ``event_id`` is the first event whose hash does not hold."""

    def __init__(self, event_id: int, reason: str) -> None:
        super().__init__(f"audit event {event_id}: {reason}")
        self.event_id = event_id


def _digest(
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
    last = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    prev_hash = last or GENESIS
    occurred_at = utcnow()
    details = details or {}
    event = AuditEvent(
        occurred_at=occurred_at,
        actor=actor,
        action=action,
        subject=subject,
        details=details,
        prev_hash=prev_hash,
        hash=_digest(prev_hash, occurred_at, actor, action, subject, details),
    )
    session.add(event)
    session.flush()
    return event


def verify(session: Session) -> int:
    """Recompute the chain from the start; return the number of events, or raise."""
    expected_prev = GENESIS
    count = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)):
        if event.prev_hash != expected_prev:
            raise AuditChainBroken(event.id, "does not follow the event before it")
        digest = _digest(
            event.prev_hash,
            event.occurred_at,
            event.actor,
            event.action,
            event.subject,
            event.details,
        )
        if digest != event.hash:
            raise AuditChainBroken(event.id, "content does not match its hash")
        expected_prev = event.hash
        count += 1
    return count
