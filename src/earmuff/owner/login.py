"""Owners sign in with a link, never a password: one use, a few minutes, then a session.

``earmuff accounts login-link`` (or the company's own channel: an e-mail, the app) issues
the link. Its token and the session's are 256 random bits; only their SHA-256 hashes are
stored, so a copy of the database signs nobody in. Redeeming a link is one conditional
update, so two clicks on the same link make one session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from earmuff.audit.log import record
from earmuff.config.policy import OwnerPolicy
from earmuff.store.models import Account, OwnerLoginLink, OwnerSession, utcnow

LINK_PREFIX = "eml_"
SESSION_PREFIX = "ems_"
_MAX_TOKEN = 128


class LoginError(ValueError):
    """No account can be signed in as asked."""


@dataclass(frozen=True)
class SignedIn:
    """A live owner session. ``token`` is only known when the session was just made."""

    account_id: str
    csrf_token: str
    expires_at: datetime
    token: str | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_login_link(
    session: Session,
    external_id: str,
    rules: OwnerPolicy,
    now: datetime | None = None,
    minutes: int | None = None,
    by: str = "cli",
) -> tuple[str, datetime]:
    """A new sign-in token for the account ``external_id`` and when it stops working.

    Audited under ``by`` (the operator's command, by default): whoever holds the link
    can hear the household's recordings until it is used or expires.
    """
    account_id = session.scalar(select(Account.id).where(Account.external_id == external_id))
    if account_id is None:
        raise LoginError(f"no account {external_id}")
    now = now or utcnow()
    token = LINK_PREFIX + secrets.token_urlsafe(32)
    expires_at = now + timedelta(minutes=minutes or rules.login_link_minutes)
    session.add(
        OwnerLoginLink(
            token_hash=_hash(token), account_id=account_id, created_at=now, expires_at=expires_at
        )
    )
    session.flush()
    record(
        session,
        by,
        "owner.login_link_issued",
        f"account:{account_id}",
        {"expires_at": expires_at.isoformat()},
    )
    return token, expires_at


def redeem_login_link(
    session: Session, token: str, rules: OwnerPolicy, via: str, now: datetime | None = None
) -> SignedIn | None:
    """Exchange a valid, unused link for a new session; None for any other token.

    Audited: a sign-in opens a household's audio, transcripts and export.
    """
    if not token.startswith(LINK_PREFIX) or len(token) > _MAX_TOKEN:
        return None
    now = now or utcnow()
    token_hash = _hash(token)
    used = session.execute(
        update(OwnerLoginLink)
        .where(
            OwnerLoginLink.token_hash == token_hash,
            OwnerLoginLink.used_at.is_(None),
            OwnerLoginLink.expires_at > now,
        )
        .values(used_at=now)
    )
    if cast(CursorResult[Any], used).rowcount != 1:
        return None
    account_id = session.scalar(
        select(OwnerLoginLink.account_id).where(OwnerLoginLink.token_hash == token_hash)
    )
    assert account_id is not None
    session_token = SESSION_PREFIX + secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires_at = now + timedelta(minutes=rules.session_minutes)
    session.add(
        OwnerSession(
            token_hash=_hash(session_token),
            account_id=account_id,
            csrf_token=csrf,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.flush()
    record(session, f"owner:{account_id}", "owner.signed_in", f"account:{account_id}", {"via": via})
    return SignedIn(account_id, csrf, expires_at, session_token)


def authenticate(session: Session, token: str, now: datetime | None = None) -> SignedIn | None:
    if not token.startswith(SESSION_PREFIX) or len(token) > _MAX_TOKEN:
        return None
    row = session.get(OwnerSession, _hash(token))
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    return SignedIn(row.account_id, row.csrf_token, row.expires_at)


def end_session(session: Session, token: str, via: str) -> None:
    row = session.get(OwnerSession, _hash(token))
    if row is None:
        return
    account_id = row.account_id
    session.delete(row)
    record(
        session, f"owner:{account_id}", "owner.signed_out", f"account:{account_id}", {"via": via}
    )
