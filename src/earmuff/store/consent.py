"""Consent to human review: the current choice and every change ever made.

The history is append-only: a regulator asking "what had this owner agreed to on that
day, having been shown which text?" gets an answer from it.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.orm import Session

from earmuff.store.models import ConsentChange, ConsentSetting, utcnow

Choice = Literal["granted", "withdrawn"]


def record_consent(
    session: Session,
    account_id: str,
    choice: Choice,
    source: str,
    disclosure_version: str | None,
) -> ConsentSetting:
    """Set the account's choice and append it to the history, in the caller's transaction."""
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
            source=source,
            changed_at=now,
        )
    )
    return setting
