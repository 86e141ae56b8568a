"""Review items at rest: each sealed under a key of its own, opened without the account.

An item's key is sealed under the review-items key, which is derived from the master
key for this purpose alone. The workbench can play an item without any account key,
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
from earmuff.store.crypto import KEY_BYTES, KeyRing, field_context, seal, unseal
from earmuff.store.models import ReviewItem, new_id

REVIEW_ITEMS_PURPOSE = "earmuff review items v1"


@dataclass(frozen=True)
class NewReviewItem:
    audio_wav: bytes = field(repr=False)
    masked_transcript: str = field(repr=False)
    locale: str
    duration_s: float
    policy_version: str
    model_versions: dict[str, Any]
    sensitive_category: str | None
    expires_at: datetime


def duration_bucket(seconds: float) -> str:
    """Coarse on purpose: an exact duration helps link an item to its recording."""
    for limit, label in ((2, "<2s"), (5, "2-5s"), (10, "5-10s"), (30, "10-30s")):
        if seconds < limit:
            return label
    return ">30s"


def _kek(keyring: KeyRing) -> bytes:
    return keyring.master.derive(REVIEW_ITEMS_PURPOSE)


def write_review_audio(keyring: KeyRing, blobs: BlobStore, item: NewReviewItem) -> ReviewItem:
    """Seal and store the audio; return the (not yet added) row that points at it."""
    item_id = new_id()
    key = secrets.token_bytes(KEY_BYTES)
    blob_key = f"review/{item_id}.wav"
    blobs.put(blob_key, seal(key, item.audio_wav, _context(item_id, "audio")))
    return ReviewItem(
        id=item_id,
        locale=item.locale,
        duration_bucket=duration_bucket(item.duration_s),
        policy_version=item.policy_version,
        model_versions=item.model_versions,
        audio_blob_key=blob_key,
        key_sealed=seal(_kek(keyring), key, _context(item_id, "key")),
        transcript_sealed=seal(key, item.masked_transcript.encode(), _context(item_id, "text")),
        sensitive_category=item.sensitive_category,
        status="queued",
        expires_at=item.expires_at,
    )


def _item_key(keyring: KeyRing, item: ReviewItem) -> bytes:
    if item.key_sealed is None:
        raise LookupError(f"review item {item.id} was destroyed")
    return unseal(_kek(keyring), item.key_sealed, _context(item.id, "key"))


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
