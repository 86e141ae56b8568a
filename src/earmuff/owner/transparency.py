"""What happened to each recording, told to its owner in plain words.

Per recording: whether its audio is stored, whether it was discarded as a false wake,
whether it was chosen for review, and for every review copy who looked at it (the role,
never the person), when, what they labelled, what is kept and until when. Per account:
the same, counted per month. A review copy is found through the vault's blind index,
never by opening the vault.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from earmuff.config import Policy
from earmuff.config.policy import SERVED_WORDS
from earmuff.owner.consent import ReviewStatus, review_status
from earmuff.owner.deletion import receipts
from earmuff.owner.history import (
    HumanReview,
    PastCopy,
    past_copies,
    reviews_of,
    unfinished_listens,
)
from earmuff.owner.retention import retention_label
from earmuff.pipeline.stage import STAGE_ORDER, RecordingFacts, Work
from earmuff.pipeline.transcribe import TRANSCRIPT
from earmuff.review.reidentify import Notice, notices_for_account
from earmuff.store import Store
from earmuff.store.crypto import CryptoError
from earmuff.store.models import (
    Account,
    Annotation,
    Device,
    Recording,
    RecordingStage,
    ReviewItem,
    ReviewTask,
    StaffUser,
)
from earmuff.store.review_items import open_item_text, read_review_transcript
from earmuff.store.vault import items_of_recordings

ROLE_WORDS = {
    "annotator": "a transcriber",
    "qa_reviewer": "a quality reviewer",
    "safety_officer": "a safety officer",
    "privacy_officer": "a privacy officer",
    "admin": "an administrator",
}
DECISION_WORDS = {
    ("consent", "consented"): "Review allowed by your choice at the time",
    ("consent", "no_consent"): "Not eligible for review: you had not said yes",
    ("consent", "opted_out"): "Not eligible for review: you had said no",
    ("consent", "child_profile"): "Never reviewed: a child's profile",
    ("consent", "account_gone"): "Not eligible for review",
    ("wake", "wake_confirmed"): "The wake word was confirmed",
    ("wake", "false_wake"): "No wake word: the audio was deleted at once",
    ("sample", "sampled"): "Chosen at random for human review",
    ("sample", "not_sampled"): "Not chosen for human review",
    (
        "sample",
        "account_cap_reached",
    ): "Not chosen: your 30-day limit of reviewed recordings was reached",
    ("sample", "recording_gone"): "Not chosen: the recording was deleted",
    ("transcribe", "transcribed"): "Transcribed by a computer",
    ("pii", "masked"): "Names, numbers and addresses masked",
    ("anonymize", "anonymized"): "Voice disguised, masked words replaced by a tone",
    ("screen", "ordinary"): "Checked for sensitive content: none found",
    ("screen", "sensitive"): "Checked for sensitive content: marked for trained reviewers only",
    ("review_item", "queued"): "Sent for review under a random number",
    ("review_item", "already_queued"): "Sent for review under a random number",
}
PAGE_SIZE = 25


def role_words(role: str) -> str:
    return ROLE_WORDS.get(role, "a reviewer")


@dataclass(frozen=True)
class Step:
    stage: str
    decision: str
    words: str


@dataclass(frozen=True)
class ReviewCopy:
    """One copy sent for review: live (``id`` set) or already destroyed."""

    sent_at: datetime
    state: str
    reviews: tuple[HumanReview, ...]
    id: str | None = None
    masked_transcript: str | None = None
    kept_until: datetime | None = None
    ended_at: datetime | None = None
    served: str | None = None
    """What its reviewers heard (``ReviewItem.served``): the owner is told whether their
    voice, disguised, reached a person, or only the words did."""

    @property
    def heard(self) -> str | None:
        return None if self.served is None else SERVED_WORDS.get(self.served, self.served)


@dataclass(frozen=True)
class RecordingSummary:
    id: str
    captured_at: datetime
    received_at: datetime
    duration_s: float
    locale: str
    device_serial: str
    state: str
    audio_stored: bool
    sampled: bool
    copies: int
    human_reviews: int
    kept_until: datetime | None


@dataclass(frozen=True)
class RecordingView:
    summary: RecordingSummary
    wake_word: str
    steps: tuple[Step, ...]
    copies: tuple[ReviewCopy, ...]
    transcript: str | None
    on_hold: bool


@dataclass
class MonthCounts:
    month: str
    recordings: int = 0
    false_wakes: int = 0
    sampled: int = 0
    sent_for_review: int = 0
    human_reviews: int = 0
    reviews_by_role: dict[str, int] = field(default_factory=dict)
    withdrawn_from_review: int = 0
    review_copies_expired: int = 0
    deleted_by_you: int = 0
    deleted_at_time_limit: int = 0


@dataclass(frozen=True)
class TransparencyReport:
    account: str
    generated_at: datetime
    review: ReviewStatus
    raw_retention: str
    review_copies_days: int
    on_legal_hold: bool
    months: list[MonthCounts]
    totals: MonthCounts
    reidentifications: list[Notice] = field(default_factory=list)
    """Every time staff asked to learn who is behind one of this household's review
    copies, and what came of it (deferred only while a legal hold lasts)."""


def recording_state(recording: Recording, pending: bool) -> str:
    if recording.status == "discarded":
        return "Deleted at once: it did not start with the wake word. Only this note remains."
    if recording.blob_key is None:
        return "Audio deleted"
    if pending:
        return "Stored; still being processed"
    if recording.status == "in_review":
        return "Stored; a copy was sent for review"
    return "Stored"


def _live_copies(
    session: Session, store: Store, recording: Recording, item_ids: Iterable[str]
) -> list[ReviewCopy]:
    copies = []
    for item_id in item_ids:
        item = session.get(ReviewItem, item_id)
        if item is None:
            continue
        readable = item.key_sealed is not None
        reviews = (
            _reviews_with_text(session, store, item) if readable else reviews_of(session, item_id)
        )
        leased = session.scalars(
            select(StaffUser.role)
            .join(ReviewTask, ReviewTask.lease_holder_id == StaffUser.id)
            .where(ReviewTask.review_item_id == item_id, ReviewTask.status == "leased")
        ).all()
        kept = item.expires_at
        if recording.retention_until is not None and (
            kept is None or recording.retention_until < kept
        ):
            kept = recording.retention_until
        copies.append(
            ReviewCopy(
                id=item.id,
                sent_at=item.created_at,
                state=_copy_state(item, reviews, list(leased)),
                reviews=tuple(reviews),
                masked_transcript=read_review_transcript(store.keyring, item) if readable else None,
                kept_until=kept,
                served=item.served,
            )
        )
    return copies


def _reviews_with_text(session: Session, store: Store, item: ReviewItem) -> list[HumanReview]:
    """Each review with the transcript its reviewer typed, which lives as long as the copy."""
    reviews = []
    for a in session.scalars(
        select(Annotation)
        .where(Annotation.review_item_id == item.id)
        .order_by(Annotation.submitted_at, Annotation.id)
    ):
        text = None
        if a.transcript_sealed is not None:
            try:
                text = open_item_text(store.keyring, item, "annotation", a.transcript_sealed)
            except CryptoError:
                text = None
        reviews.append(
            HumanReview(
                at=a.submitted_at,
                role=a.staff_role,
                outcome=a.outcome,
                intent=a.intent,
                slots=tuple(sorted(a.slots)),
                flags=tuple(sorted(a.flags)),
                skip_reason=a.skip_reason,
                transcript=text,
            )
        )
    return sorted([*reviews, *unfinished_listens(session, item.id)], key=lambda r: r.at)


def _copy_state(item: ReviewItem, reviews: list[HumanReview], leased: list[str]) -> str:
    if item.status == "withdrawn":
        return "Out of review (kept only because of a legal hold)"
    if item.status in ("pulled", "escalated", "deleted"):
        return "Taken out of review by the review team"
    if leased:
        return f"Being reviewed now by {role_words(leased[0])}"
    if reviews:
        return "Reviewed"
    return "Waiting for review; nobody has heard it yet"


def _past(copies: list[PastCopy]) -> list[ReviewCopy]:
    return [
        ReviewCopy(
            sent_at=copy.sent_at,
            state=copy.ended_in_words.capitalize(),
            reviews=copy.reviews,
            ended_at=copy.ended_at,
            served=copy.served,
        )
        for copy in copies
    ]


def _stages(session: Session, ids: list[str]) -> dict[str, dict[str, RecordingStage]]:
    found: dict[str, dict[str, RecordingStage]] = {}
    if ids:
        for row in session.scalars(
            select(RecordingStage).where(RecordingStage.recording_id.in_(ids))
        ):
            found.setdefault(row.recording_id, {})[row.stage] = row
    return found


def _pending(stages: dict[str, RecordingStage]) -> bool:
    if any(row.status == "stopped" for row in stages.values()):
        return False
    last = stages.get(STAGE_ORDER[-1])
    return last is None or last.status != "done"


def _summaries(
    session: Session, store: Store, account_id: str, recordings: list[Recording]
) -> list[RecordingSummary]:
    ids = [r.id for r in recordings]
    stages = _stages(session, ids)
    live = items_of_recordings(session, store.keyring, ids)
    history = past_copies(session, store.keyring, account_id, ids)
    reviews = _review_counts(session, [i for items in live.values() for i in items])
    serials = _serials(session, account_id)
    return [
        RecordingSummary(
            id=r.id,
            captured_at=r.captured_at,
            received_at=r.received_at,
            duration_s=r.duration_s,
            locale=r.locale,
            device_serial=serials.get(r.device_id, ""),
            state=recording_state(r, _pending(stages.get(r.id, {}))),
            audio_stored=r.blob_key is not None,
            sampled=r.sampled_at is not None,
            copies=len(live.get(r.id, [])) + len(history.get(r.id, [])),
            human_reviews=sum(reviews.get(i, 0) for i in live.get(r.id, []))
            + sum(len(c.reviews) for c in history.get(r.id, [])),
            kept_until=r.retention_until,
        )
        for r in recordings
    ]


def _review_counts(session: Session, item_ids: list[str]) -> dict[str, int]:
    if not item_ids:
        return {}
    rows = session.execute(
        select(Annotation.review_item_id, func.count())
        .where(Annotation.review_item_id.in_(item_ids))
        .group_by(Annotation.review_item_id)
    )
    counts = {item: int(count) for item, count in rows}
    for item in item_ids:
        unfinished = len(unfinished_listens(session, item))
        if unfinished:
            counts[item] = counts.get(item, 0) + unfinished
    return counts


def _serials(session: Session, account_id: str) -> dict[str, str]:
    rows = session.execute(select(Device.id, Device.serial).where(Device.account_id == account_id))
    return {device: serial for device, serial in rows}


def list_recordings(
    session: Session, store: Store, account_id: str, page: int = 1, per_page: int = PAGE_SIZE
) -> tuple[list[RecordingSummary], int]:
    """A page of the account's recordings, newest first, and how many there are."""
    total = (
        session.scalar(
            select(func.count()).select_from(Recording).where(Recording.account_id == account_id)
        )
        or 0
    )
    recordings = list(
        session.scalars(
            select(Recording)
            .where(Recording.account_id == account_id)
            .order_by(Recording.captured_at.desc(), Recording.id)
            .offset((max(page, 1) - 1) * per_page)
            .limit(per_page)
        )
    )
    return _summaries(session, store, account_id, recordings), total


def recording_view(
    session: Session, store: Store, account_id: str, recording_id: str
) -> RecordingView | None:
    recording = session.get(Recording, recording_id)
    if recording is None or recording.account_id != account_id:
        return None
    account = session.get(Account, account_id)
    assert account is not None
    (summary,) = _summaries(session, store, account_id, [recording])
    stages = _stages(session, [recording.id]).get(recording.id, {})
    steps = tuple(_step(stages[name]) for name in STAGE_ORDER if name in stages)
    live = items_of_recordings(session, store.keyring, [recording.id]).get(recording.id, [])
    copies = _past(
        past_copies(session, store.keyring, account_id, [recording.id]).get(recording.id, [])
    )
    copies += _live_copies(session, store, recording, live)
    copies.sort(key=lambda copy: copy.sent_at)
    return RecordingView(
        summary=summary,
        wake_word=recording.wake_word,
        steps=steps,
        copies=tuple(copies),
        transcript=machine_transcript(store, recording),
        on_hold=account.legal_hold_reason is not None,
    )


def _step(row: RecordingStage) -> Step:
    decision = str(row.detail.get("decision", ""))
    if row.status == "failed":
        words = "Processing failed here; it will be tried again"
    elif decision.startswith("withdrawn_before_review"):
        words = "Not sent for review: review had been stopped before it was ready"
    else:
        words = DECISION_WORDS.get((row.stage, decision), decision.replace("_", " "))
    if row.stage == "pii" and decision == "masked":
        found = row.detail.get("found") or {}
        if found:
            words += " (" + ", ".join(f"{n} {kind.lower()}" for kind, n in found.items()) + ")"
    return Step(row.stage, decision, words)


def machine_transcript(store: Store, recording: Recording) -> str | None:
    """What the computer heard, when a transcript was made (only for sampled recordings)."""
    if recording.key_sealed is None:
        return None
    raw = Work(store, RecordingFacts.of(recording)).load(TRANSCRIPT)
    if raw is None:
        return None
    text: str = json.loads(raw).get("text", "")
    return text.strip()


def transparency_report(
    session: Session, store: Store, account_id: str, now: datetime
) -> TransparencyReport:
    account = session.get(Account, account_id)
    if account is None:
        raise LookupError(account_id)
    policy: Policy = store.settings.policy
    months: dict[str, MonthCounts] = {}

    def month(when: datetime) -> MonthCounts:
        key = when.strftime("%Y-%m")
        return months.setdefault(key, MonthCounts(key))

    rows = session.execute(
        select(Recording.id, Recording.received_at, Recording.status, Recording.sampled_at).where(
            Recording.account_id == account_id
        )
    ).all()
    for _id, received_at, status, sampled_at in rows:
        counts = month(received_at)
        counts.recordings += 1
        if status == "discarded":
            counts.false_wakes += 1
        if sampled_at is not None:
            month(sampled_at).sampled += 1
    sampled_ids = [row[0] for row in rows if row[3] is not None]
    live = items_of_recordings(session, store.keyring, sampled_ids)
    for items in live.values():
        for item_id in items:
            item = session.get(ReviewItem, item_id)
            if item is None:
                continue
            month(item.created_at).sent_for_review += 1
            for review in reviews_of(session, item_id):
                _count_review(month(review.at), review)
    for copies in past_copies(session, store.keyring, account_id, sampled_ids).values():
        for copy in copies:
            month(copy.sent_at).sent_for_review += 1
            for review in copy.reviews:
                _count_review(month(review.at), review)
            if copy.ended == "consent_withdrawn":
                month(copy.ended_at).withdrawn_from_review += 1
            else:
                month(copy.ended_at).review_copies_expired += 1
    for receipt in receipts(session, account_id):
        if receipt.completed_at is None:
            continue
        gone = receipt.deleted.get("recordings", 0) + receipt.deleted.get(
            "false_wake_tombstones", 0
        )
        if receipt.scope == "retention":
            month(receipt.completed_at).deleted_at_time_limit += gone
        else:
            month(receipt.completed_at).deleted_by_you += gone
    ordered = [months[key] for key in sorted(months, reverse=True)]
    return TransparencyReport(
        account=account.external_id,
        generated_at=now,
        review=review_status(session, policy, account),
        raw_retention=retention_label(account.raw_retention, policy.retention.raw_recordings_days),
        review_copies_days=policy.retention.review_items_days,
        on_legal_hold=account.legal_hold_reason is not None,
        months=ordered,
        totals=_total(ordered),
        reidentifications=notices_for_account(session, store.keyring, account_id, now),
    )


def _count_review(counts: MonthCounts, review: HumanReview) -> None:
    counts.human_reviews += 1
    counts.reviews_by_role[review.role] = counts.reviews_by_role.get(review.role, 0) + 1


def _total(months: list[MonthCounts]) -> MonthCounts:
    total = MonthCounts("total")
    roles: Counter[str] = Counter()
    for counts in months:
        for name in (
            "recordings",
            "false_wakes",
            "sampled",
            "sent_for_review",
            "human_reviews",
            "withdrawn_from_review",
            "review_copies_expired",
            "deleted_by_you",
            "deleted_at_time_limit",
        ):
            setattr(total, name, getattr(total, name) + getattr(counts, name))
        roles.update(counts.reviews_by_role)
    total.reviews_by_role = dict(roles)
    return total


def as_json(value: Any) -> Any:
    """Dataclasses, datetimes and tuples in a form ``json.dumps`` accepts."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return {name: as_json(getattr(value, name)) for name in value.__dataclass_fields__}
    return value
