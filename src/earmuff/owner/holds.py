"""Legal holds: only a privacy officer may suspend deletion, one account at a time.

While a hold lasts, retention skips the account, and the owner's deletion requests wait
(as ``held`` receipts) instead of being refused; when it is released they are carried
out at once, with everything that passed its limit meanwhile. A hold needs a reason,
and its setting and release are audited under the officer's staff id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.audit import record
from earmuff.owner.retention import RetentionReport, run_retention
from earmuff.store import Store
from earmuff.store.models import Account, LegalHold, StaffUser, utcnow

HOLDER_ROLE = "privacy_officer"
MAX_REASON = 2000


class HoldError(ValueError):
    """The hold cannot be set or released as asked (no reason, none in place, ...)."""


class HoldForbidden(PermissionError):
    """Only an active privacy officer may set or release a legal hold."""


def _check(by: StaffUser) -> None:
    if by.role != HOLDER_ROLE or not by.active:
        raise HoldForbidden("only an active privacy officer may set or release a legal hold")


def _reason(text: str, what: str) -> str:
    text = text.strip()
    if not text:
        raise HoldError(f"a {what} is required")
    if len(text) > MAX_REASON:
        raise HoldError(f"the {what} is longer than {MAX_REASON} characters")
    return text


def place_hold(
    session: Session, account_id: str, reason: str, by: StaffUser, now: datetime | None = None
) -> LegalHold:
    """Put the account on hold, in the caller's transaction."""
    _check(by)
    reason = _reason(reason, "reason")
    account = session.get(Account, account_id)
    if account is None:
        raise HoldError(f"no account {account_id}")
    if account.legal_hold_reason is not None:
        raise HoldError("this account is already on legal hold")
    now = now or utcnow()
    hold = LegalHold(account_id=account.id, reason=reason, set_by_id=by.id, set_at=now)
    session.add(hold)
    account.legal_hold_reason = reason
    session.flush()
    record(
        session,
        f"staff:{by.id}",
        "legal_hold.set",
        f"account:{account.id}",
        {"hold": hold.id, "reason": reason},
    )
    return hold


def lift_hold(
    session: Session, account_id: str, by: StaffUser, note: str, now: datetime | None = None
) -> LegalHold:
    """End the account's hold, in the caller's transaction; then call ``carry_out_held``."""
    _check(by)
    note = _reason(note, "note on why the hold ends")
    account = session.get(Account, account_id)
    if account is None:
        raise HoldError(f"no account {account_id}")
    hold = session.scalar(
        select(LegalHold).where(LegalHold.account_id == account.id, LegalHold.released_at.is_(None))
    )
    if account.legal_hold_reason is None or hold is None:
        raise HoldError("this account is not on legal hold")
    now = now or utcnow()
    hold.released_at = now
    hold.released_by_id = by.id
    hold.release_note = note
    account.legal_hold_reason = None
    session.flush()
    record(
        session,
        f"staff:{by.id}",
        "legal_hold.released",
        f"account:{account.id}",
        {"hold": hold.id, "note": note},
    )
    return hold


def set_legal_hold(
    store: Store, account_id: str, reason: str, by: StaffUser, now: datetime | None = None
) -> LegalHold:
    with store.db.transaction() as session:
        return place_hold(session, account_id, reason, by, now)


def release_legal_hold(
    store: Store, account_id: str, by: StaffUser, note: str, now: datetime | None = None
) -> tuple[LegalHold, RetentionReport]:
    """Release the hold, then catch up at once: the deletions the owner asked for
    meanwhile, and whatever passed its retention limit during the hold."""
    with store.db.transaction() as session:
        hold = lift_hold(session, account_id, by, note, now)
    return hold, run_retention(store, now, account_id)
