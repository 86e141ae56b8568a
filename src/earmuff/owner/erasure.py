"""Destroying recordings and review copies for good: the one path every deletion takes.

Withdrawal, the owner's deletions and retention all end here, so "deleted" means one
thing everywhere: the database rows go in the caller's transaction (a review copy's
tasks, leases, annotations, gold answers and second listens with it, by ``ON DELETE
CASCADE``), the sealed blobs go once it has committed, and the database is scrubbed of
the rows' old bytes. The rows held the keys, so even a blob that survived a crash
between commit and unlink is noise.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from earmuff.pipeline.stage import artifact_key
from earmuff.store import Store
from earmuff.store.blobs import BlobStore
from earmuff.store.crypto import KeyRing
from earmuff.store.models import (
    Annotation,
    IdempotencyRecord,
    Recording,
    RecordingStage,
    ReviewItem,
    ReviewRecord,
    VaultEntry,
)
from earmuff.store.vault import index_untagged, items_of_recordings

log = logging.getLogger(__name__)
CHUNK = 500
T = TypeVar("T")


def chunks(values: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    """Bounded ``IN`` lists: databases cap the number of bound parameters."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


@dataclass
class Erasure:
    """What one deletion removed. Blobs are unlinked by :meth:`finish`, after commit."""

    recordings: int = 0
    tombstones: int = 0
    review_items: int = 0
    annotations: int = 0
    blobs: list[str] = field(default_factory=list)
    recording_ids: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            "recordings": self.recordings,
            "false_wake_tombstones": self.tombstones,
            "review_copies": self.review_items,
            "human_annotations": self.annotations,
            "stored_files": len(self.blobs),
        }

    @property
    def anything(self) -> bool:
        return any(self.counts().values())

    def finish(self, store: Store) -> None:
        """Unlink the blobs and scrub the database; call once the transaction committed."""
        for key in self.blobs:
            try:
                store.blobs.delete(key)
            except OSError:
                log.exception("could not unlink %s; its key is gone, so it is unreadable", key)
        store.db.scrub()


def erase_review_items(session: Session, item_ids: Collection[str], erasure: Erasure) -> None:
    """Delete review copies with everything made from them, and their vault links."""
    ids = sorted(set(item_ids))
    for chunk in chunks(ids):
        rows = session.execute(
            select(ReviewItem.id, ReviewItem.audio_blob_key).where(ReviewItem.id.in_(chunk))
        ).all()
        erasure.annotations += (
            session.scalar(
                select(func.count())
                .select_from(Annotation)
                .where(Annotation.review_item_id.in_(chunk))
            )
            or 0
        )
        session.execute(delete(VaultEntry).where(VaultEntry.review_item_id.in_(chunk)))
        session.execute(delete(ReviewItem).where(ReviewItem.id.in_(chunk)))
        erasure.review_items += len(rows)
        erasure.blobs.extend(key for _, key in rows if key)


def erase_recordings(
    session: Session,
    keyring: KeyRing,
    blobs: BlobStore,
    recording_ids: Collection[str],
    erasure: Erasure,
) -> None:
    """Delete recordings: audio, derived artifacts, review copies, history, every row."""
    ids = sorted(set(recording_ids))
    index_untagged(session, keyring)
    copies = items_of_recordings(session, keyring, ids)
    erase_review_items(session, [item for items in copies.values() for item in items], erasure)
    for chunk in chunks(ids):
        rows = session.execute(
            select(Recording.id, Recording.device_id, Recording.blob_key, Recording.status).where(
                Recording.id.in_(chunk)
            )
        ).all()
        for recording_id, _device, blob_key, status in rows:
            if blob_key:
                erasure.blobs.append(blob_key)
            erasure.blobs.extend(blobs.keys(prefix=artifact_key(recording_id, "")))
            if status == "discarded":
                erasure.tombstones += 1
            else:
                erasure.recordings += 1
            erasure.recording_ids.append(recording_id)
        forget_answers(session, {row[1] for row in rows}, {row[0] for row in rows})
        session.execute(delete(ReviewRecord).where(ReviewRecord.recording_id.in_(chunk)))
        session.execute(delete(RecordingStage).where(RecordingStage.recording_id.in_(chunk)))
        session.execute(delete(Recording).where(Recording.id.in_(chunk)))


def forget_answers(session: Session, device_ids: Collection[str], recording_ids: set[str]) -> None:
    """Drop the stored upload answers that name deleted recordings.

    A device retrying an old upload would otherwise be told about a recording that no
    longer exists, and the answer itself is a trace of it.
    """
    if not device_ids or not recording_ids:
        return
    stale = [
        (record.device_id, record.key)
        for record in session.scalars(
            select(IdempotencyRecord).where(IdempotencyRecord.device_id.in_(sorted(device_ids)))
        )
        if record.response.get("recording_id") in recording_ids
    ]
    for device_id, key in stale:
        session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.device_id == device_id, IdempotencyRecord.key == key
            )
        )
