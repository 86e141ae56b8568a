"""The task page says what the reviewer hears, and the audio route serves exactly that."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from earmuff.speech.synthetic import synthetic_voice
from earmuff.store import Store
from earmuff.store.models import utcnow
from earmuff.store.review_items import NewReviewItem, queue_tasks, write_review_audio
from tests.audio_samples import wav
from tests.workbench.staff import add_person, sign_in

MASKED = "call [PERSON] at five"


def queued(store: Store, purpose: str, served: str) -> None:
    audio = {
        "anonymized_recording": wav(3.0, 16_000),
        "synthetic_voice": synthetic_voice().read(MASKED).wav(),
        "no_audio": None,
    }[served]
    item = write_review_audio(
        store.keyring,
        store.blobs,
        NewReviewItem(
            audio_wav=audio,
            masked_transcript=MASKED,
            locale="en-US",
            duration_s=3.0,
            policy_version="test",
            model_versions={"asr": "test"},
            sensitive_category=None,
            expires_at=utcnow() + timedelta(days=30),
            purpose=purpose,
            served=served,
        ),
    )
    with store.db.transaction() as session:
        session.add(item)
        session.flush()
        queue_tasks(session, item, 1)


def take(browser: TestClient, store: Store) -> tuple[str, str, str]:
    """Sign a reviewer in and take the task: the page, the CSRF token and the lease."""
    csrf = sign_in(browser, add_person(store, "ana", "annotator"))
    browser.post("/workbench/next", data={"csrf_token": csrf})
    page = browser.get("/workbench").text
    lease = re.search(r'name="lease_id" value="([^"]+)"', page)
    assert lease, page
    return page, csrf, lease.group(1)


def stream(browser: TestClient, csrf: str, lease_id: str) -> tuple[int, bytes]:
    grant = browser.post(
        "/api/workbench/audio-url", json={"lease_id": lease_id}, headers={"X-CSRF-Token": csrf}
    )
    audio = browser.get(grant.json()["url"])
    return audio.status_code, audio.content


@pytest.mark.parametrize(
    ("purpose", "served", "label"),
    [
        ("intent", "synthetic_voice", "a synthetic voice reading the masked transcript"),
        ("transcription", "anonymized_recording", "the anonymized recording"),
        ("intent", "no_audio", "no audio"),
    ],
)
def test_the_task_page_says_what_the_reviewer_hears(
    store: Store, browser: TestClient, purpose: str, served: str, label: str
) -> None:
    queued(store, purpose, served)
    page, _, _ = take(browser, store)
    assert f"<strong>You hear:</strong> {label}." in page
    assert f"Task: {purpose}." in page
    player = re.search(r'<section class="card" id="player-card"[^>]*>', page)
    assert player is not None
    assert ("hidden" in player.group(0)) == (served == "no_audio")


def test_an_intent_task_streams_the_synthetic_reading_watermarked(
    store: Store, browser: TestClient
) -> None:
    queued(store, "intent", "synthetic_voice")
    _, csrf, lease_id = take(browser, store)
    status, body = stream(browser, csrf, lease_id)
    assert status == 200
    reading = synthetic_voice().read(MASKED)
    samples, rate = sf.read(io.BytesIO(body), dtype="float32")
    assert rate == reading.sample_rate and len(samples) == len(reading.samples)
    assert body != reading.wav(), "the stream carries the reviewer's watermark"


def test_a_task_without_audio_streams_nothing(store: Store, browser: TestClient) -> None:
    queued(store, "intent", "no_audio")
    _, csrf, lease_id = take(browser, store)
    status, _ = stream(browser, csrf, lease_id)
    assert status == 404


def test_a_task_without_audio_has_no_span_for_a_second_listen(
    store: Store, browser: TestClient
) -> None:
    queued(store, "intent", "no_audio")
    _, csrf, lease_id = take(browser, store)
    response = browser.post(
        "/workbench/second-listen",
        data={"csrf_token": csrf, "lease_id": lease_id, "start_s": "0", "end_s": "1"},
    )
    assert response.status_code == 422
    assert "This task has no audio to listen to." in response.text
