"""Review items at rest: each sealed under a key of its own, opened without the account.

An item's key is sealed under the review-items key, which is derived from the master
key for this purpose alone. It is not pinned: a master-key rotation re-seals every live
item's key (:func:`reseal_item_key`), so a copy of a deleted item in an older backup
does not open with the new master key. The workbench can play an item without any account key,
so serving it reveals nothing about whose it is; deleting the row and its blob
destroys the item, backups included.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from earmuff.store.blobs import BlobStore
from earmuff.store.crypto import KEY_BYTES, CryptoError, KeyRing, field_context, seal, unseal
from earmuff.store.models import ReviewItem, ReviewTask, new_id, utcnow

REVIEW_ITEMS_PURPOSE = "earmuff review items v1"
ANNOTATION_TEXT = "annotation"
"""What a reviewer's transcript is sealed as (see :func:`seal_item_text`)."""
GOLD_TEXT = "gold"
"""What a gold answer's transcript is sealed as."""


@dataclass(frozen=True)
class NewReviewItem:
    audio_wav: bytes | None = field(repr=False)
    """What the reviewer is served (``served``), or None when the purpose needs no audio."""
    masked_transcript: str = field(repr=False)
    locale: str
    duration_s: float
    policy_version: str
    model_versions: dict[str, Any]
    sensitive_category: str | None
    expires_at: datetime
    purpose: str = "transcription"
    served: str = "anonymized_recording"


def duration_bucket(seconds: float) -> str:
    """Coarse on purpose: an exact duration helps link an item to its recording."""
    for limit, label in ((2, "<2s"), (5, "2-5s"), (10, "5-10s"), (30, "10-30s")):
        if seconds < limit:
            return label
    return ">30s"


def _kek(keyring: KeyRing) -> bytes:
    return keyring.master.derive(REVIEW_ITEMS_PURPOSE)


def write_review_audio(keyring: KeyRing, blobs: BlobStore, item: NewReviewItem) -> ReviewItem:
    """Seal and store the audio, if any; return the (not yet added) row that points at it."""
    item_id = new_id()
    key, key_sealed = new_item_key(keyring, item_id)
    blob_key = None
    if item.audio_wav is not None:
        blob_key = f"review/{item_id}.wav"
        blobs.put(blob_key, seal(key, item.audio_wav, _context(item_id, "audio")))
    return ReviewItem(
        id=item_id,
        locale=item.locale,
        duration_bucket=duration_bucket(item.duration_s),
        policy_version=item.policy_version,
        model_versions=item.model_versions,
        audio_blob_key=blob_key,
        purpose=item.purpose,
        served=item.served,
        key_sealed=key_sealed,
        transcript_sealed=seal(key, item.masked_transcript.encode(), _context(item_id, "text")),
        sensitive_category=item.sensitive_category,
        status="queued",
        expires_at=item.expires_at,
    )


def new_item_key(keyring: KeyRing, item_id: str) -> tuple[bytes, bytes]:
    """A fresh data key for an item, and the same key sealed for the item's row."""
    key = secrets.token_bytes(KEY_BYTES)
    return key, seal(_kek(keyring), key, _context(item_id, "key"))


def queue_tasks(session: Session, item: ReviewItem, copies: int) -> list[ReviewTask]:
    """Put ``item`` in the queue as ``copies`` tasks, each for a different reviewer.

    One copy is an ordinary (``single``) task; several are ``overlap`` tasks whose
    answers are compared to measure agreement. An item the screen marked sensitive goes
    to the safety pool, heard only by reviewers who chose that work.
    """
    if copies < 1:
        raise ValueError(f"an item needs at least one task, not {copies}")
    kind = "single" if copies == 1 else "overlap"
    pool = "safety" if item.sensitive_category else "general"
    tasks = [
        ReviewTask(
            review_item_id=item.id,
            slot=slot,
            kind=kind,
            pool=pool,
            locale=item.locale,
            status="queued",
            available_at=item.created_at or utcnow(),
        )
        for slot in range(copies)
    ]
    session.add_all(tasks)
    session.flush()
    return tasks


def _item_key(keyring: KeyRing, item: ReviewItem) -> bytes:
    """The item's key, sealed under the current master's review-items key or, while a
    rotation is re-sealing items, a previous one's."""
    if item.key_sealed is None:
        raise LookupError(f"review item {item.id} was destroyed")
    keks = keyring.derive_all(REVIEW_ITEMS_PURPOSE)
    for kek in keks[:-1]:
        try:
            return unseal(kek, item.key_sealed, _context(item.id, "key"))
        except CryptoError:
            continue
    return unseal(keks[-1], item.key_sealed, _context(item.id, "key"))


def reseal_item_key(keyring: KeyRing, item_id: str, key_sealed: bytes) -> bytes | None:
    """``key_sealed`` sealed under the current review-items key, or None if it already is.

    For a master-key rotation: run again after an interruption, it skips what is done.
    """
    context = _context(item_id, "key")
    current, *previous = keyring.derive_all(REVIEW_ITEMS_PURPOSE)
    try:
        unseal(current, key_sealed, context)
        return None
    except CryptoError:
        pass
    for kek in previous:
        try:
            return seal(current, unseal(kek, key_sealed, context), context)
        except CryptoError:
            continue
    raise CryptoError(f"review item {item_id}: its key opens under no accepted master key")


def read_review_audio(keyring: KeyRing, blobs: BlobStore, item: ReviewItem) -> bytes:
    if item.audio_blob_key is None:
        raise LookupError(f"review item {item.id} has no audio")
    sealed = blobs.get(item.audio_blob_key)
    return unseal(_item_key(keyring, item), sealed, _context(item.id, "audio"))


def read_review_transcript(keyring: KeyRing, item: ReviewItem) -> str:
    if item.transcript_sealed is None:
        return ""
    key = _item_key(keyring, item)
    return unseal(key, item.transcript_sealed, _context(item.id, "text")).decode()


def seal_item_text(keyring: KeyRing, item: ReviewItem, what: str, text: str) -> bytes:
    """Seal text a reviewer wrote about an item (an annotation, a second-listen answer)
    under the item's own key, so it dies with the item, backups included.

    ``what`` names the kind of text (``annotation``, ``second_listen``, ``gold``): a
    value moved to another kind or another item fails to open.
    """
    return seal(_item_key(keyring, item), text.encode(), _context(item.id, what))


def open_item_text(keyring: KeyRing, item: ReviewItem, what: str, sealed: bytes) -> str:
    return unseal(_item_key(keyring, item), sealed, _context(item.id, what)).decode()


def _context(item_id: str, what: str) -> bytes:
    return field_context("review_items", what, item_id)


def delete_review_item(session: Session, blobs: BlobStore, item: ReviewItem) -> None:
    """Destroy the item's key, transcript and audio; the caller deletes its vault entry."""
    if item.audio_blob_key is not None:
        blobs.delete(item.audio_blob_key)
    item.audio_blob_key = None
    item.key_sealed = None
    item.transcript_sealed = None
    item.status = "deleted"
    session.flush()
