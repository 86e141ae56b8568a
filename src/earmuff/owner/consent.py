"""The owner's yes or no to human review, and what a no does at once.

A yes is recorded with the exact disclosure the owner read. A no is recorded, and in
the same transaction every review copy made from the account's recordings leaves the
queue: waiting ones (nobody heard them yet) and reviewed ones alike are deleted with
their tasks, leases and annotations, and recordings in the pipeline are stopped before
they become copies. A legal hold keeps the copies (out of every queue) until it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, select, update
from sqlalchemy.orm import Session

from earmuff.audit import record
from earmuff.config import Policy
from earmuff.owner.disclosure import Disclosure, remember
from earmuff.owner.erasure import Erasure, chunks, erase_review_items
from earmuff.owner.history import keep_history
from earmuff.pipeline.stage import STAGE_ORDER, artifact_key
from earmuff.store import Store
from earmuff.store.consent import Choice, lock_account, record_consent
from earmuff.store.models import (
    Account,
    Annotation,
    ConsentSetting,
    Device,
    Recording,
    RecordingStage,
    ReviewItem,
    ReviewTask,
    utcnow,
)
from earmuff.store.vault import index_untagged, items_of_account, items_of_recordings


class ConsentError(ValueError):
    """The change cannot be made (the account's data was deleted, or it is a child's)."""


@dataclass(frozen=True)
class ReviewStatus:
    """Whether people may listen to the account's recordings, in plain words."""

    may_listen: bool
    choice: str
    mode: str
    child_profile: bool
    child_devices: int
    headline: str
    explanation: str
    can_change: bool


NOBODY = "Nobody listens to your recordings."
SOME = "People may listen to a few of your recordings."


def review_status(session: Session, policy: Policy, account: Account) -> ReviewStatus:
    setting = session.get(ConsentSetting, account.id)
    choice = setting.human_review if setting else "unset"
    mode = policy.review.consent
    child_devices = (
        session.scalar(
            select(func.count()).where(
                Device.account_id == account.id, Device.is_child_profile.is_(True)
            )
        )
        or 0
    )

    def status(may: bool, headline: str, explanation: str, can_change: bool) -> ReviewStatus:
        return ReviewStatus(
            may_listen=may,
            choice=choice,
            mode=mode,
            child_profile=account.is_child_profile,
            child_devices=child_devices,
            headline=headline,
            explanation=explanation,
            can_change=can_change,
        )

    if account.deleted_at is not None:
        return status(False, NOBODY, "You deleted all your data; nothing is left to hear.", False)
    if account.is_child_profile:
        why = "This is a child's profile. Its recordings are never reviewed by people."
        return status(False, NOBODY, why, False)
    if choice == "granted" or (mode == "opt-out" and choice != "withdrawn"):
        why = (
            "You said yes."
            if choice == "granted"
            else "You have not said no, and this service reviews unless you do."
        )
        explanation = f"{why} People may listen to a few of your recordings, as described below."
        if child_devices:
            explanation += " Recordings from your child-profile devices are never reviewed."
        return status(True, SOME, explanation, True)
    why = "You said no." if choice == "withdrawn" else "You have not said yes."
    return status(False, NOBODY, f"{why} No recording of yours is sent to a person.", True)


@dataclass(frozen=True)
class ConsentResult:
    choice: Choice
    changed_at: datetime
    withdrawn: int = 0
    """Copies that were waiting for review (nobody had heard them) and are now gone."""
    reviewed_deleted: int = 0
    """Copies people had already reviewed, deleted with their annotations."""
    held: bool = False
    """A legal hold kept the copies (out of every queue) instead of deleting them."""


def grant(
    store: Store, account_id: str, source: str, disclosure: Disclosure, now: datetime | None = None
) -> ConsentResult:
    """Record a yes, with the disclosure the owner read."""
    now = now or utcnow()
    with store.db.transaction() as session:
        lock_account(session, account_id)
        account = _changeable(session, account_id)
        remember(session, disclosure)
        record_consent(
            session, account.id, "granted", source, disclosure.version, disclosure.sha256
        )
        record(
            session,
            source,
            "consent.granted",
            f"account:{account.id}",
            {"disclosure": disclosure.version, "disclosure_sha256": disclosure.sha256},
        )
    return ConsentResult("granted", now)


def withdraw(
    store: Store,
    account_id: str,
    source: str,
    disclosure: Disclosure | None,
    now: datetime | None = None,
) -> ConsentResult:
    """Record a no and take every copy of the account's recordings out of review, now."""
    now = now or utcnow()
    erasure = Erasure()
    with store.db.transaction() as session:
        lock_account(session, account_id)
        account = session.get(Account, account_id)
        if account is None:
            raise ConsentError(f"no account {account_id}")
        if disclosure is not None:
            remember(session, disclosure)
        record_consent(
            session,
            account.id,
            "withdrawn",
            source,
            disclosure.version if disclosure else None,
            disclosure.sha256 if disclosure else None,
        )
        index_untagged(session, store.keyring)
        items = items_of_account(session, store.keyring, account.id)
        reviewed = _reviewed(session, items)
        held = account.legal_hold_reason is not None
        if held:
            _take_out_of_play(session, items)
        else:
            recording_ids = list(
                session.scalars(select(Recording.id).where(Recording.account_id == account.id))
            )
            copies = {
                item: recording
                for recording, found in items_of_recordings(
                    session, store.keyring, recording_ids
                ).items()
                for item in found
            }
            keep_history(session, store.keyring, account.id, copies, "consent_withdrawn", now)
            erase_review_items(session, items, erasure)
            _stop_review_work(session, store, account.id, erasure)
        result = ConsentResult(
            "withdrawn",
            now,
            withdrawn=len(items) - len(reviewed),
            reviewed_deleted=len(reviewed),
            held=held,
        )
        record(
            session,
            source,
            "consent.withdrawn",
            f"account:{account.id}",
            {
                "withdrawn_waiting": result.withdrawn,
                "withdrawn_reviewed": result.reviewed_deleted,
                "kept_under_legal_hold": held,
            },
        )
    erasure.finish(store)
    return result


def _changeable(session: Session, account_id: str) -> Account:
    account = session.get(Account, account_id)
    if account is None:
        raise ConsentError(f"no account {account_id}")
    if account.deleted_at is not None:
        raise ConsentError("this account's data was deleted; there is nothing to review")
    if account.is_child_profile:
        raise ConsentError("a child's profile is never reviewed, whatever the setting")
    return account


def _reviewed(session: Session, item_ids: list[str]) -> set[str]:
    reviewed: set[str] = set()
    for chunk in chunks(item_ids):
        reviewed.update(
            session.scalars(
                select(ReviewItem.id).where(
                    ReviewItem.id.in_(chunk),
                    exists().where(Annotation.review_item_id == ReviewItem.id),
                )
            )
        )
    return reviewed


def _take_out_of_play(session: Session, item_ids: list[str]) -> None:
    """Under a legal hold: nobody may hear the copies any more, but they stay."""
    for chunk in chunks(item_ids):
        session.execute(
            update(ReviewTask)
            .where(
                ReviewTask.review_item_id.in_(chunk), ReviewTask.status.in_(("queued", "leased"))
            )
            .values(status="withdrawn", lease_id=None, lease_holder_id=None, lease_expires_at=None)
        )
        session.execute(
            update(ReviewItem).where(ReviewItem.id.in_(chunk)).values(status="withdrawn")
        )


def _stop_review_work(session: Session, store: Store, account_id: str, erasure: Erasure) -> None:
    """Drop what was made only for review (transcripts, disguised audio) of finished
    recordings; an unfinished one is stopped by the review-item stage's own check."""
    finished = select(RecordingStage.recording_id).where(
        ((RecordingStage.stage == STAGE_ORDER[-1]) & (RecordingStage.status == "done"))
        | (RecordingStage.status == "stopped")
    )
    rows = session.execute(
        select(Recording.id, Recording.status).where(
            Recording.account_id == account_id,
            Recording.id.in_(finished),
        )
    ).all()
    for recording_id, status in rows:
        erasure.blobs.extend(store.blobs.keys(prefix=artifact_key(recording_id, "")))
        if status == "in_review":
            session.execute(
                update(Recording).where(Recording.id == recording_id).values(status="stored")
            )
