"""Queued review items for workbench tests: real sealed audio, real tasks."""

from __future__ import annotations

from datetime import timedelta

from earmuff.store import Store
from earmuff.store.models import utcnow
from earmuff.store.review_items import NewReviewItem, queue_tasks, write_review_audio
from tests.audio_samples import wav


def queued_item(
    store: Store,
    transcript: str = "set a timer for [NUMBER] minutes",
    locale: str = "en-US",
    sensitive: str | None = None,
    copies: int = 1,
    audio: bytes | None = None,
    seconds: float = 3.0,
) -> str:
    item = write_review_audio(
        store.keyring,
        store.blobs,
        NewReviewItem(
            audio_wav=audio if audio is not None else wav(seconds, 16_000),
            masked_transcript=transcript,
            locale=locale,
            duration_s=seconds,
            policy_version="test",
            model_versions={"asr": "test"},
            sensitive_category=sensitive,
            expires_at=utcnow() + timedelta(days=30),
        ),
    )
    with store.db.transaction() as session:
        session.add(item)
        session.flush()
        queue_tasks(session, item, copies)
    return item.id
