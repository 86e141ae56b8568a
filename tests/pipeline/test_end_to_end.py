"""The whole pipeline on real speech: what reaches a reviewer carries no PII and no owner."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import pytest
import soundfile as sf

from earmuff.cli.samples import join_recordings
from earmuff.config import Policy
from earmuff.config.policy import ReviewPolicy
from earmuff.pii.recognizers import digit_runs
from earmuff.pipeline.build import Models, build_runner
from earmuff.store import Store
from earmuff.store.models import Recording, ReviewItem
from earmuff.store.review_items import read_review_audio, read_review_transcript
from earmuff.store.vault import items_of_recordings
from tests.pipeline.conftest import Household


@pytest.fixture(scope="module")
def models() -> Models:
    return Models(Policy())


def real_speech(corpus: Path, *relative: str) -> bytes:
    return join_recordings(*(corpus / name for name in relative))


def sample_everything(store: Store) -> None:
    store.settings = dataclasses.replace(
        store.settings, policy=Policy(review=ReviewPolicy(sampling_rate=1.0))
    )


def test_a_wake_word_and_a_phone_number_become_a_masked_anonymized_review_item(
    store: Store, household: Household, corpus: Path, models: Models
) -> None:
    sample_everything(store)
    household.consent("granted")
    number = "phone/phone_george_04_8495931.wav"
    recording_id = household.upload(audio=real_speech(corpus, "alexa/0.flac", number))
    reports = build_runner(store, models).run(recording_id)
    assert [(r.stage, r.status) for r in reports] == [
        ("consent", "done"),
        ("wake", "done"),
        ("sample", "done"),
        ("transcribe", "done"),
        ("pii", "done"),
        ("anonymize", "done"),
        ("screen", "done"),
        ("review_item", "done"),
    ]
    assert reports[4].detail["found"].get("PHONE_NUMBER") == 1
    with store.db.read() as session:
        item = session.query(ReviewItem).one()
        assert items_of_recordings(session, store.keyring, [recording_id]) == {
            recording_id: [item.id]
        }
        assert session.get(Recording, recording_id).status == "in_review"  # type: ignore[union-attr]
        transcript = read_review_transcript(store.keyring, item)
        audio = read_review_audio(store.keyring, store.blobs, item)
    assert "[PHONE_NUMBER]" in transcript
    assert not any(len(d) >= 4 for _, _, d in digit_runs(transcript))
    assert item.locale == "en-US" and item.duration_bucket in {"2-5s", "5-10s"}
    assert set(item.model_versions) == {"asr", "pii", "anonymization"}
    samples, rate = sf.read(io.BytesIO(audio), dtype="float32")
    assert rate == 16_000 and len(samples) > 16_000
    row = json.dumps([item.id, item.locale, item.duration_bucket, item.model_versions])
    assert not re.search(r"ACC-1|SN-1|Jane", row), "nothing in the item names the household"


def test_a_recording_without_its_wake_word_is_deleted_and_only_a_tombstone_remains(
    store: Store, household: Household, corpus: Path, models: Models
) -> None:
    sample_everything(store)
    household.consent("granted")
    command = sorted((corpus / "commands").glob("*.wav"))[0].relative_to(corpus)
    recording_id = household.upload(audio=real_speech(corpus, str(command)))
    reports = build_runner(store, models).run(recording_id)
    assert [(r.stage, r.decision) for r in reports] == [
        ("consent", "consented"),
        ("wake", "false_wake"),
    ]
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None
        assert (recording.status, recording.blob_key, recording.key_sealed) == (
            "discarded",
            None,
            None,
        )
        assert recording.retention_until is not None
    assert not [k for k in list(store.blobs.keys()) if recording_id in k]


def test_a_false_wake_of_a_household_that_never_allowed_review_is_deleted(
    store: Store, household: Household, corpus: Path, models: Models
) -> None:
    """Consent governs review, not whether a recording made without being asked is kept."""
    sample_everything(store)
    command = sorted((corpus / "commands").glob("*.wav"))[0].relative_to(corpus)
    recording_id = household.upload(audio=real_speech(corpus, str(command)))
    reports = build_runner(store, models).run(recording_id)
    assert [(r.stage, r.status, r.decision) for r in reports] == [
        ("consent", "done", "no_consent"),
        ("wake", "stopped", "false_wake"),
    ]
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None
        assert (recording.status, recording.blob_key, recording.key_sealed) == (
            "discarded",
            None,
            None,
        )
    assert not [k for k in list(store.blobs.keys()) if recording_id in k]


def test_a_true_wake_of_a_household_that_never_allowed_review_is_kept_but_never_reviewed(
    store: Store, household: Household, corpus: Path, models: Models
) -> None:
    sample_everything(store)
    number = "phone/phone_george_04_8495931.wav"
    recording_id = household.upload(audio=real_speech(corpus, "alexa/0.flac", number))
    runner = build_runner(store, models)
    reports = runner.run(recording_id)
    assert [(r.stage, r.status, r.decision) for r in reports] == [
        ("consent", "done", "no_consent"),
        ("wake", "stopped", "wake_confirmed"),
    ]
    assert recording_id not in runner.pending()
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None
        assert (recording.status, recording.sampled_at) == ("stored", None)
        assert recording.blob_key is not None and recording.key_sealed is not None
        assert session.query(ReviewItem).count() == 0
    assert [k for k in list(store.blobs.keys()) if recording_id in k] == [recording.blob_key]
