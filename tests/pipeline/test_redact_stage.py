"""The redact stage masks the account's first name however Whisper spelt it, and the
bleep covers it; the wake word is never taken for a name."""

from __future__ import annotations

import json

import pytest

from earmuff.pii import PiiDetector
from earmuff.pipeline.redact import REDACTION, PiiStage
from earmuff.pipeline.stage import RecordingFacts, Work
from earmuff.pipeline.transcribe import TRANSCRIPT
from earmuff.store import Store
from earmuff.store.accounts import seal_first_name
from earmuff.store.models import Account, Recording
from tests.pipeline.conftest import Household


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector()


def transcribed(store: Store, household: Household, first_name: str, heard: str) -> Work:
    """A recording of ``household``, whose account registered ``first_name``, that
    Whisper heard as ``heard`` (one word per 0.5 s)."""
    with store.db.transaction() as session:
        account = session.get(Account, household.account_id)
        assert account is not None
        key = store.keyring.account_key(session, account.id)
        account.first_name_sealed = seal_first_name(key, account.id, first_name)
    household.consent("granted")
    recording_id = household.upload()
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None
        work = Work(store, RecordingFacts.of(recording))
    words = [[f" {word}", 0.5 * i, 0.5 * i + 0.4, 0.9] for i, word in enumerate(heard.split())]
    work.save(TRANSCRIPT, json.dumps({"model": "stub", "words": words}).encode())
    return work


def test_the_registered_first_name_misspelt_by_whisper_is_masked_and_bleeped(
    store: Store, household: Household, detector: PiiDetector
) -> None:
    work = transcribed(store, household, "Veton", "Alexa call Vayton about dinner")
    PiiStage(detector).run(work)
    redaction = json.loads(work.load(REDACTION) or b"{}")
    assert redaction["masked_text"] == "Alexa call [PERSON] about dinner"
    assert redaction["spans"] == [[1.0, 1.4]]


def test_the_wake_word_is_no_name_even_when_it_sounds_like_the_owners(
    store: Store, household: Household, detector: PiiDetector
) -> None:
    work = transcribed(store, household, "Alex", "Alexa remind Alex to call")
    PiiStage(detector).run(work)
    redaction = json.loads(work.load(REDACTION) or b"{}")
    assert redaction["masked_text"] == "Alexa remind [PERSON] to call"
    assert redaction["spans"] == [[1.0, 1.4]]
