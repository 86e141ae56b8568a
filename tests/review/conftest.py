"""Review items, staff, leases and annotations built directly, as the queue would leave them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from earmuff.pipeline.ingest import Ingestor
from earmuff.store import Store
from earmuff.store.accounts import register_device
from earmuff.store.models import Annotation, ReviewItem, ReviewTask, StaffUser, new_id, utcnow
from earmuff.store.review_items import (
    ANNOTATION_TEXT,
    NewReviewItem,
    seal_item_text,
    write_review_audio,
)
from earmuff.store.vault import deposit
from tests.audio_samples import wav

RATE = 16_000


@pytest.fixture
def now() -> datetime:
    return utcnow()


def make_staff(
    session: Session,
    username: str,
    role: str = "annotator",
    locales: str = "en-US",
    safety_pool: bool = False,
    second_listener: bool = False,
) -> StaffUser:
    user = StaffUser(
        username=username,
        password_hash="not-a-real-hash",
        role=role,
        locales=locales,
        safety_pool=safety_pool,
        second_listener=second_listener,
    )
    session.add(user)
    session.flush()
    return user


def make_item(
    store: Store,
    locale: str = "en-US",
    seconds: float = 3.0,
    seed: int = 0,
    sensitive: str | None = None,
    transcript: str = "set a timer for [NUMBER] minutes",
    recording_id: str | None = None,
) -> str:
    """A real review item: audio sealed in the blob store, row in the database."""
    item = write_review_audio(
        store.keyring,
        store.blobs,
        NewReviewItem(
            audio_wav=wav(seconds, RATE, seed=seed),
            masked_transcript=transcript,
            locale=locale,
            duration_s=seconds,
            policy_version="test-policy-7",
            model_versions={"asr": "whisper-base", "pii": "presidio-2.2"},
            sensitive_category=sensitive,
            expires_at=utcnow() + timedelta(days=183),
        ),
    )
    with store.db.transaction() as session:
        session.add(item)
        session.flush()
        if recording_id is not None:
            deposit(session, store.keyring, item.id, recording_id)
    return item.id


def lease_task(
    session: Session, item_id: str, holder: StaffUser, now: datetime, minutes: float = 10
) -> ReviewTask:
    item = session.get(ReviewItem, item_id)
    assert item is not None
    task = ReviewTask(
        review_item_id=item_id,
        slot=0,
        locale=item.locale,
        pool="safety" if item.sensitive_category else "general",
        status="leased",
        lease_id=new_id(),
        lease_holder_id=holder.id,
        lease_expires_at=now + timedelta(minutes=minutes),
    )
    session.add(task)
    session.flush()
    return task


def annotate(
    store: Store,
    session: Session,
    item_id: str,
    staff: StaffUser,
    transcript: str,
    *,
    slot: int = 0,
    kind: str = "single",
    intent: str | None = "set_timer",
    slots: dict[str, Any] | None = None,
    flags: dict[str, Any] | None = None,
    outcome: str = "submitted",
    at: datetime | None = None,
) -> Annotation:
    """A finished task and its annotation, the transcript sealed under the item's key."""
    item = session.get(ReviewItem, item_id)
    assert item is not None
    at = at or utcnow()
    task = ReviewTask(
        review_item_id=item_id,
        slot=slot,
        kind=kind,
        locale=item.locale,
        status="done",
        completed_by_id=staff.id,
        completed_at=at,
    )
    session.add(task)
    session.flush()
    annotation = Annotation(
        task_id=task.id,
        review_item_id=item_id,
        staff_id=staff.id,
        staff_role=staff.role,
        outcome=outcome,
        transcript_sealed=(
            seal_item_text(store.keyring, item, ANNOTATION_TEXT, transcript)
            if outcome == "submitted"
            else None
        ),
        intent=intent if outcome == "submitted" else None,
        slots=slots or {},
        flags=flags or {},
        skip_reason=None if outcome == "submitted" else "cannot_hear",
        started_at=at - timedelta(minutes=2),
        submitted_at=at,
    )
    session.add(annotation)
    session.flush()
    return annotation


@dataclass(frozen=True)
class Household:
    """Who a recording belongs to: everything an export must never contain."""

    account_external_id: str
    account_id: str
    device_id: str
    serial: str
    first_name: str
    recording_id: str

    def identifiers(self) -> list[str]:
        return [
            self.account_external_id,
            self.account_id,
            self.device_id,
            self.serial,
            self.first_name,
            self.recording_id,
        ]


def household_recording(
    store: Store,
    account: str = "ACC-7731-K",
    first_name: str = "Marguerite",
    serial: str = "SN-XQ-4471-Z",
) -> Household:
    """A device registered and one recording uploaded through the real ingest stage."""
    with store.db.transaction() as session:
        device, token = register_device(session, store.keyring, account, first_name, serial)
        account_id, device_id = device.account_id, device.id
    ingestor = Ingestor(store.settings, store.db, store.blobs, store.keyring)
    metadata = {
        "account_id": account,
        "first_name": first_name,
        "device_serial": serial,
        "captured_at": "2026-11-20T10:00:00Z",
        "locale": "en-US",
        "wake_word": "alexa",
        "device_recording_id": "rec-0001",
    }
    result = ingestor.ingest(
        ingestor.authenticate(token), json.dumps(metadata).encode(), wav(1.0, RATE, seed=9)
    )
    return Household(
        account, account_id, device_id, serial, first_name, str(result.body["recording_id"])
    )
