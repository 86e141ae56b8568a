"""Consent to human review: the current choice and every change ever made.

The history is append-only: a regulator asking "what had this owner agreed to on that
day, having been shown which text?" gets an answer from it.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.store.models import Account, ConsentChange, ConsentSetting, utcnow

Choice = Literal["granted", "withdrawn"]


def lock_account(session: Session, account_id: str) -> None:
    """Serialise consent changes with whatever else must see a settled choice.

    Making a review item and withdrawing consent both take this lock first, so on
    PostgreSQL an item cannot be queued by a transaction that read "granted" while a
    withdrawal commits beside it (SQLite's ``BEGIN IMMEDIATE`` already serialises them).
    """
    session.execute(select(Account.id).where(Account.id == account_id).with_for_update())


def record_consent(
    session: Session,
    account_id: str,
    choice: Choice,
    source: str,
    disclosure_version: str | None,
    disclosure_sha256: str | None = None,
) -> ConsentSetting:
    """Set the account's choice and append it to the history, in the caller's transaction.

    ``disclosure_sha256`` names the exact wording shown (see ``owner/disclosure.py``).
    """
    now = utcnow()
    setting = session.get(ConsentSetting, account_id)
    if setting is None:
        setting = ConsentSetting(account_id=account_id, source=source)
        session.add(setting)
    setting.human_review = choice
    setting.disclosure_version = disclosure_version
    setting.source = source
    setting.updated_at = now
    session.add(
        ConsentChange(
            account_id=account_id,
            human_review=choice,
            disclosure_version=disclosure_version,
            disclosure_sha256=disclosure_sha256,
            source=source,
            changed_at=now,
        )
    )
    return setting
