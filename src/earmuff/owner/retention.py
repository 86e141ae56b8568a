"""Retention: nothing outlives its limit, unless a legal hold says it must.

- raw recordings: the owner's choice (3 months, 18 months, or kept until they delete
  them); an account that never chose gets the policy's ``raw_recordings_days``;
- review copies, and the annotations made on them: at most ``review_items_days``, and
  never longer than the recording they were made from;
- false-wake tombstones: ``false_wake_tombstones_days``;
- sign-in links and owner sessions: until they expire.

Each run removes what is due through the same erasure path as the owner's deletions,
leaves each affected household a receipt (scope ``retention``), carries out deletions
that waited for a legal hold to end, and sweeps derived files whose recording is gone.
An account on legal hold is skipped entirely.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from earmuff.audit import record
from earmuff.owner.deletion import carry_out_held, complete
from earmuff.owner.erasure import Erasure, chunks, erase_recordings, erase_review_items
from earmuff.owner.history import keep_history
from earmuff.pipeline.ingest import RETENTION_CHOICES
from earmuff.store import Store
from earmuff.store.consent import lock_account
from earmuff.store.models import (
    Account,
    DeletionRequest,
    OwnerLoginLink,
    OwnerSession,
    Recording,
    ReviewItem,
    VaultEntry,
    utcnow,
)
from earmuff.store.vault import account_tag, index_untagged, recording_tag

log = logging.getLogger(__name__)
OWNER_CHOICES = ("3m", "18m", "keep")
DAYS_PER_MONTH = 30.44


class RetentionError(ValueError):
    """An owner's retention choice that earmuff does not offer."""


@dataclass
class RetentionReport:
    now: datetime
    recordings: int = 0
    tombstones: int = 0
    review_copies: int = 0
    annotations: int = 0
    held_requests_done: int = 0
    accounts_on_hold: int = 0
    expired_sign_ins: int = 0
    orphan_files: int = 0
    accounts: set[str] = field(default_factory=set)

    def summary(self) -> dict[str, int]:
        return {
            "recordings": self.recordings,
            "false_wake_tombstones": self.tombstones,
            "review_copies": self.review_copies,
            "human_annotations": self.annotations,
            "held_requests_done": self.held_requests_done,
            "accounts_on_hold": self.accounts_on_hold,
            "expired_sign_ins": self.expired_sign_ins,
            "orphan_files": self.orphan_files,
            "accounts": len(self.accounts),
        }


@dataclass
class _Due:
    recordings: list[str] = field(default_factory=list)
    copies: dict[str, str | None] = field(default_factory=dict)
    """Review item id to the recording it was made from (None: unknown)."""


def run_retention(
    store: Store, now: datetime | None = None, account_id: str | None = None
) -> RetentionReport:
    """Enforce every limit as of ``now``; with ``account_id``, for that account only."""
    now = now or utcnow()
    report = RetentionReport(now)
    with store.db.transaction() as session:
        index_untagged(session, store.keyring)
    with store.db.read() as session:
        held = set(
            session.scalars(select(Account.id).where(Account.legal_hold_reason.is_not(None)))
        )
        waiting = set(
            session.scalars(
                select(DeletionRequest.account_id).where(DeletionRequest.status == "held")
            )
        )
        due = _due(session, store, now, held, account_id)
    report.accounts_on_hold = len(held)
    for waiting_id in sorted(waiting - held):
        if account_id in (None, waiting_id):
            report.held_requests_done += len(carry_out_held(store, waiting_id, now))
    erasure = Erasure()
    for owner_id in sorted(key for key in due if key is not None):
        _expire_account(store, owner_id, due[owner_id], now, report, erasure)
    if account_id is None:
        _expire_ownerless(store, list(due.get(None, _Due()).copies), report, erasure)
        report.expired_sign_ins = _expire_sign_ins(store, now)
        report.orphan_files = _sweep_orphan_artifacts(store, erasure)
        if report.recordings or report.tombstones or report.review_copies:
            with store.db.transaction() as session:
                record(session, "retention", "retention.run", "retention", report.summary())
    erasure.finish(store)
    return report


def _due(
    session: Session, store: Store, now: datetime, held: set[str], only: str | None
) -> dict[str | None, _Due]:
    rules = store.settings.policy.retention
    due: dict[str | None, _Due] = {}
    expired = or_(
        Recording.retention_until <= now,
        and_(
            Recording.status == "discarded",
            Recording.received_at <= now - timedelta(days=rules.false_wake_tombstones_days),
        ),
        and_(
            Recording.status != "discarded",
            Account.raw_retention == "policy",
            Recording.received_at <= now - timedelta(days=rules.raw_recordings_days),
        ),
    )
    query = (
        select(Recording.id, Recording.account_id)
        .join(Account, Account.id == Recording.account_id)
        .where(Account.legal_hold_reason.is_(None), expired)
        .order_by(Recording.received_at)
    )
    if only is not None:
        query = query.where(Recording.account_id == only)
    for recording_id, owner in session.execute(query):
        due.setdefault(owner, _Due()).recordings.append(recording_id)

    copies = session.execute(
        select(ReviewItem.id, VaultEntry.account_tag, VaultEntry.recording_tag)
        .outerjoin(VaultEntry, VaultEntry.review_item_id == ReviewItem.id)
        .where(
            or_(
                ReviewItem.expires_at <= now,
                ReviewItem.created_at <= now - timedelta(days=rules.review_items_days),
                ReviewItem.status == "withdrawn",
            )
        )
    ).all()
    if not copies:
        return due
    held_tags = {account_tag(store.keyring, account) for account in held}
    in_review = session.execute(
        select(Recording.id, Recording.account_id).where(Recording.status == "in_review")
    ).all()
    by_tag: dict[str, tuple[str | None, str | None]] = {
        recording_tag(store.keyring, rid): (rid, owner) for rid, owner in in_review
    }
    only_tag = account_tag(store.keyring, only) if only is not None else None
    for item_id, item_account_tag, item_recording_tag in copies:
        if item_account_tag in held_tags:
            continue
        if only_tag is not None and item_account_tag != only_tag:
            continue
        linked, item_owner = by_tag.get(item_recording_tag or "", (None, None))
        due.setdefault(item_owner, _Due()).copies[item_id] = linked
    return due


def _expire_account(
    store: Store,
    account_id: str,
    due: _Due,
    now: datetime,
    report: RetentionReport,
    erasure: Erasure,
) -> None:
    part = Erasure()
    with store.db.transaction() as session:
        lock_account(session, account_id)
        account = session.get(Account, account_id)
        if account is None or account.legal_hold_reason is not None:
            return
        ended = {
            item: recording
            for item, recording in due.copies.items()
            if recording is not None and recording not in due.recordings
        }
        withdrawn = set(
            session.scalars(
                select(ReviewItem.id).where(
                    ReviewItem.id.in_(list(ended)), ReviewItem.status == "withdrawn"
                )
            )
        )
        keep_history(
            session,
            store.keyring,
            account_id,
            {k: v for k, v in ended.items() if k not in withdrawn},
            "expired",
            now,
        )
        keep_history(
            session,
            store.keyring,
            account_id,
            {k: v for k, v in ended.items() if k in withdrawn},
            "hold_released",
            now,
        )
        erase_review_items(session, list(due.copies), part)
        for recording_ids in chunks(sorted(set(ended.values()))):
            session.execute(
                update(Recording)
                .where(Recording.id.in_(recording_ids), Recording.status == "in_review")
                .values(status="stored")
            )
        erase_recordings(session, store.keyring, store.blobs, due.recordings, part)
        if part.anything:
            request = DeletionRequest(
                account_id=account_id, scope="retention", source="retention", requested_at=now
            )
            session.add(request)
            complete(session, request, part, now)
    report.recordings += part.recordings
    report.tombstones += part.tombstones
    report.review_copies += part.review_items
    report.annotations += part.annotations
    report.accounts.add(account_id)
    erasure.blobs.extend(part.blobs)


def _expire_ownerless(
    store: Store, item_ids: list[str], report: RetentionReport, erasure: Erasure
) -> None:
    """Copies whose recording is gone or unknown: nobody to tell, nothing to keep."""
    if not item_ids:
        return
    part = Erasure()
    with store.db.transaction() as session:
        erase_review_items(session, item_ids, part)
    report.review_copies += part.review_items
    report.annotations += part.annotations
    erasure.blobs.extend(part.blobs)


def _expire_sign_ins(store: Store, now: datetime) -> int:
    with store.db.transaction() as session:
        links = session.execute(
            delete(OwnerLoginLink).where(
                or_(OwnerLoginLink.expires_at <= now, OwnerLoginLink.used_at.is_not(None))
            )
        )
        sessions = session.execute(delete(OwnerSession).where(OwnerSession.expires_at <= now))
        return cast(CursorResult[Any], links).rowcount + cast(CursorResult[Any], sessions).rowcount


def _sweep_orphan_artifacts(store: Store, erasure: Erasure) -> int:
    """Derived files whose recording is gone or whose key was destroyed (a stage that
    finished after its recording was deleted): unreadable, and now removed."""
    by_recording: dict[str, list[str]] = {}
    for key in store.blobs.keys(prefix="derived/"):
        parts = key.split("/")
        if len(parts) >= 3:
            by_recording.setdefault(parts[1], []).append(key)
    if not by_recording:
        return 0
    live: set[str] = set()
    with store.db.read() as session:
        for ids in chunks(sorted(by_recording)):
            live.update(
                session.scalars(
                    select(Recording.id).where(
                        Recording.id.in_(ids), Recording.key_sealed.is_not(None)
                    )
                )
            )
    orphans = [key for rid, keys in by_recording.items() if rid not in live for key in keys]
    erasure.blobs.extend(orphans)
    return len(orphans)


def retention_label(choice: str, policy_days: int) -> str:
    return {
        "3m": "3 months",
        "18m": "18 months",
        "keep": "until you delete them",
    }.get(choice, f"{_period(policy_days)} (the standard period)")


def _period(days: int) -> str:
    months = round(days / DAYS_PER_MONTH)
    if months and abs(months * DAYS_PER_MONTH - days) < 3:
        return f"{months} month{'s' if months != 1 else ''}"
    return f"{days} days"


def set_raw_retention(
    store: Store, account_id: str, choice: str, source: str, now: datetime | None = None
) -> RetentionReport:
    """Apply the owner's choice to every recording they have, then enforce it at once."""
    if choice not in OWNER_CHOICES:
        raise RetentionError(f"choose one of {', '.join(OWNER_CHOICES)}, not {choice!r}")
    now = now or utcnow()
    with store.db.transaction() as session:
        lock_account(session, account_id)
        account = session.get(Account, account_id)
        if account is None or account.deleted_at is not None:
            raise RetentionError("this account's data was deleted")
        previous = account.raw_retention
        account.raw_retention = choice
        rows = session.execute(
            select(Recording.id, Recording.received_at).where(
                Recording.account_id == account_id, Recording.status != "discarded"
            )
        ).all()
        days = RETENTION_CHOICES.get(choice)
        for recording_id, received_at in rows:
            session.execute(
                update(Recording)
                .where(Recording.id == recording_id)
                .values(
                    retention_until=None if days is None else received_at + timedelta(days=days)
                )
            )
        record(
            session,
            source,
            "retention.choice",
            f"account:{account_id}",
            {"from": previous, "to": choice},
        )
    return run_retention(store, now, account_id)
