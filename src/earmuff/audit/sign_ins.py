"""What a refused staff sign-in leaves in the audit log, the same from the web and the CLI.

A failure names the account it was aimed at (or ``staff:unknown``), never the name
typed: a mistyped name is often a password. The attempt that locks an account is
recorded as a lock-out of its own, so guessing shows up in the log as it happens.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.audit.log import record
from earmuff.store.models import StaffUser


def target(session: Session, username: str) -> StaffUser | None:
    """The account a sign-in attempt names, looked up as the sign-in itself does."""
    return session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))


def is_locked(user: StaffUser | None, now: datetime) -> bool:
    return user is not None and user.locked_until is not None and user.locked_until > now


def sign_in_refused(
    session: Session,
    user: StaffUser | None,
    locked_before: bool,
    now: datetime,
    via: str,
    factor: str,
) -> None:
    """Record a refused attempt at ``factor`` (password or code), and a lock-out it caused."""
    subject = f"staff:{user.id}" if user is not None else "staff:unknown"
    actor = "cli" if via == "cli" else "anonymous"
    record(session, actor, "staff.sign_in_failed", subject, {"via": via, "factor": factor})
    if not locked_before and is_locked(user, now):
        record(session, actor, "staff.locked_out", subject, {"via": via})
