"""What the owner is still told about a review once its copy is gone.

When a review copy is destroyed (consent withdrawn, its time limit reached), the facts
an owner is entitled to (when it was sent, when people reviewed it and in which role,
which labels they gave, when and why it ended) are kept beside the recording, sealed
under the account key, for as long as the recording itself is kept. Transcripts are not
kept: what the reviewers wrote is deleted with the copy.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.store.crypto import KeyDestroyed, KeyRing, field_context, seal, unseal
from earmuff.store.models import (
    Annotation,
    LeaseGrant,
    ReviewItem,
    ReviewRecord,
    ReviewTask,
    StaffUser,
    new_id,
)

ENDINGS = {
    "consent_withdrawn": "deleted when you stopped human review",
    "expired": "deleted at the end of its time limit",
    "recording_expired": "deleted with the recording at the end of its time limit",
    "hold_released": "deleted after a legal hold ended",
}


@dataclass(frozen=True)
class HumanReview:
    """One person's turn at a copy: when, in which role (never who), and what they gave."""

    at: datetime
    role: str
    outcome: str
    intent: str | None
    slots: tuple[str, ...]
    flags: tuple[str, ...]
    skip_reason: str | None
    transcript: str | None = None
    """What the reviewer typed, while the copy lives; never kept once it is gone."""


@dataclass(frozen=True)
class PastCopy:
    sent_at: datetime
    ended_at: datetime
    ended: str
    reviews: tuple[HumanReview, ...]
    served: str | None = None
    """What reviewers heard; None in stories sealed before items had a purpose."""

    @property
    def ended_in_words(self) -> str:
        return ENDINGS.get(self.ended, self.ended)


def reviews_of(session: Session, item_id: str) -> list[HumanReview]:
    annotations = session.scalars(
        select(Annotation)
        .where(Annotation.review_item_id == item_id)
        .order_by(Annotation.submitted_at, Annotation.id)
    )
    done = [
        HumanReview(
            at=a.submitted_at,
            role=a.staff_role,
            outcome=a.outcome,
            intent=a.intent,
            slots=tuple(sorted(a.slots)),
            flags=tuple(sorted(a.flags)),
            skip_reason=a.skip_reason,
        )
        for a in annotations
    ]
    return sorted([*done, *unfinished_listens(session, item_id)], key=lambda r: r.at)


def unfinished_listens(session: Session, item_id: str) -> list[HumanReview]:
    """Hand-outs that ended with neither a submission nor a skip: the lease lapsed, or the
    reviewer stopped for the day. Nothing was written, but someone may have heard the
    copy, and the owner is told so."""
    answered = select(Annotation.id).where(
        Annotation.review_item_id == LeaseGrant.review_item_id,
        Annotation.staff_id == LeaseGrant.staff_id,
    )
    holding = select(ReviewTask.id).where(
        ReviewTask.lease_id == LeaseGrant.lease_id, ReviewTask.status == "leased"
    )
    rows = session.execute(
        select(LeaseGrant.granted_at, StaffUser.role)
        .join(StaffUser, StaffUser.id == LeaseGrant.staff_id)
        .where(LeaseGrant.review_item_id == item_id, ~answered.exists(), ~holding.exists())
        .order_by(LeaseGrant.granted_at)
    )
    return [
        HumanReview(
            at=at,
            role=role,
            outcome="heard_unfinished",
            intent=None,
            slots=(),
            flags=(),
            skip_reason=None,
        )
        for at, role in rows
    ]


def keep_history(
    session: Session,
    keyring: KeyRing,
    account_id: str,
    copies: dict[str, str],
    ended: str,
    now: datetime,
) -> None:
    """Before ``copies`` (review item id to recording id) are destroyed, seal their story."""
    if not copies:
        return
    try:
        key = keyring.account_key(session, account_id)
    except KeyDestroyed:
        return
    for item_id, recording_id in copies.items():
        item = session.get(ReviewItem, item_id)
        if item is None:
            continue
        record: dict[str, Any] = {
            "sent_at": item.created_at.isoformat(),
            "ended_at": now.isoformat(),
            "ended": ended,
            "served": item.served,
            "reviews": [
                {
                    "at": r.at.isoformat(),
                    "role": r.role,
                    "outcome": r.outcome,
                    "intent": r.intent,
                    "slots": list(r.slots),
                    "flags": list(r.flags),
                    "skip_reason": r.skip_reason,
                }
                for r in reviews_of(session, item_id)
            ],
        }
        row_id = new_id()
        session.add(
            ReviewRecord(
                id=row_id,
                account_id=account_id,
                recording_id=recording_id,
                record_sealed=seal(key, json.dumps(record).encode(), _context(row_id)),
            )
        )
    session.flush()


def past_copies(
    session: Session, keyring: KeyRing, account_id: str, recording_ids: Iterable[str]
) -> dict[str, list[PastCopy]]:
    """The sealed stories of each recording's destroyed copies, oldest first."""
    ids = list(recording_ids)
    if not ids:
        return {}
    rows = session.scalars(
        select(ReviewRecord).where(
            ReviewRecord.account_id == account_id, ReviewRecord.recording_id.in_(ids)
        )
    ).all()
    if not rows:
        return {}
    key = keyring.account_key(session, account_id)
    found: dict[str, list[PastCopy]] = {}
    for row in rows:
        data = json.loads(unseal(key, row.record_sealed, _context(row.id)))
        found.setdefault(row.recording_id, []).append(
            PastCopy(
                sent_at=datetime.fromisoformat(data["sent_at"]),
                ended_at=datetime.fromisoformat(data["ended_at"]),
                ended=data["ended"],
                served=data.get("served"),
                reviews=tuple(
                    HumanReview(
                        at=datetime.fromisoformat(r["at"]),
                        role=r["role"],
                        outcome=r["outcome"],
                        intent=r["intent"],
                        slots=tuple(r["slots"]),
                        flags=tuple(r["flags"]),
                        skip_reason=r["skip_reason"],
                    )
                    for r in data["reviews"]
                ),
            )
        )
    for copies in found.values():
        copies.sort(key=lambda copy: copy.sent_at)
    return found


def _context(row_id: str) -> bytes:
    return field_context("review_history", "record", row_id)
