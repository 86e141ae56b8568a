"""Speech the draft transcript has no word for is heard again, and what stays without a
word is bleeped and marked; speech that words cover is left alone. Real speech from the
corpus, tiny.en."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import soundfile as sf

from earmuff.audio.bleep import TONE_HZ, TONE_LEVEL, bleep
from earmuff.cli.samples import join_recordings
from earmuff.evaluate.manifest import load_audio
from earmuff.pii import PiiDetector
from earmuff.pii.redact import Transcript, Word, mark_untranscribed
from earmuff.pipeline.redact import REDACTION, PiiStage
from earmuff.pipeline.stage import RecordingFacts, Work
from earmuff.pipeline.transcribe import TranscribeStage
from earmuff.pipeline.untranscribed import UNTRANSCRIBED, account_for_speech, widen
from earmuff.speech.asr import TimedWord, Transcriber, Transcription, to_16k
from earmuff.speech.coverage import speech_spans, unaccounted
from earmuff.store import Store
from earmuff.store.accounts import seal_first_name
from earmuff.store.models import Account, Recording
from tests.pipeline.conftest import Household

DEMO_NAME = "wuw/calls/00000/WUWII00000_000.ulaw"
"""The demo's "alexa + caller's name" is the second alexa clip, then this caller's name
("Veton Kepuska"), which Whisper drops after the wake word."""
ORDINARY = "commands"


@pytest.fixture(scope="module")
def transcriber() -> Transcriber:
    return Transcriber("tiny.en", cpu_threads=1, vad=True, sampling_seed=27)


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector()


def demo_name_recording(corpus: Path) -> tuple[np.ndarray, int, float]:
    """The demo's joined recording, and where in it the name starts."""
    alexa = sorted((corpus / "alexa").glob("*.flac"))[1]
    samples, rate = sf.read(io.BytesIO(join_recordings(alexa, corpus / DEMO_NAME)), dtype="float32")
    wake, wake_rate = load_audio(alexa)
    return samples, rate, len(to_16k(wake, wake_rate)) / 16_000 + 0.2


def wake_word_only(samples: np.ndarray, rate: int, name_start: float) -> list[TimedWord]:
    """The draft Whisper writes for the demo's recording: "Alexa", and nothing after."""
    speech = speech_spans(samples, rate)
    first = next(span for span in speech if span[1] <= name_start)
    return [TimedWord(" Alexa", first[0], first[1], 0.9)]


def test_voiced_audio_without_a_word_is_found(corpus: Path) -> None:
    samples, rate, name_start = demo_name_recording(corpus)
    words = wake_word_only(samples, rate, name_start)
    gaps = unaccounted(speech_spans(samples, rate), [(w.start_s, w.end_s) for w in words])
    assert len(gaps) == 1
    start, end = gaps[0]
    assert start >= name_start - 0.1 and end - start > 0.8, "the name, and only the name"


def test_words_covering_all_speech_leave_nothing_unaccounted() -> None:
    speech = [(0.5, 1.5), (2.0, 3.2)]
    words = [(0.55, 0.9), (0.95, 1.45), (2.05, 2.6), (2.7, 3.1)]
    assert unaccounted(speech, words) == []
    assert unaccounted(speech, words[:3]) == [(2.6 + 0.15, 3.2)]


class Silent:
    """A second listen that hears nothing: Whisper often writes no word for a name."""

    version = "silent"

    def transcribe(self, samples: np.ndarray, sample_rate: int, **_: Any) -> Transcription:
        return Transcription((), "", self.version)


class DraftThenSilent(Silent):
    """The draft of the demo recording ("Alexa"), then a second listen hearing nothing."""

    def __init__(self, draft: list[TimedWord]) -> None:
        self.draft = draft

    def transcribe(self, samples: np.ndarray, sample_rate: int, **options: Any) -> Transcription:
        if options.get("vad") is False:
            return super().transcribe(samples, sample_rate)
        return Transcription(tuple(self.draft), "Alexa", self.version)


def uploaded(store: Store, household: Household, audio: bytes, first_name: str) -> Work:
    with store.db.transaction() as session:
        account = session.get(Account, household.account_id)
        assert account is not None
        key = store.keyring.account_key(session, account.id)
        account.first_name_sealed = seal_first_name(key, account.id, first_name)
    household.consent("granted")
    recording_id = household.upload(audio=audio)
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None
        return Work(store, RecordingFacts.of(recording))


def tone_at(start: int, end: int, rate: int) -> np.ndarray:
    t = np.arange(start, end) / rate
    return (TONE_LEVEL * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)


def assert_only_tone(heard: np.ndarray, original: np.ndarray, rate: int, span: tuple) -> None:
    """Over ``span`` not one sample of the speech is left: the tone and nothing else."""
    start, end = round(span[0] * rate), round(span[1] * rate)
    assert np.sqrt(np.mean(original[start:end] ** 2)) > 0.005, "there was speech to hide"
    np.testing.assert_allclose(heard[start:end], tone_at(start, end, rate), atol=1e-4)


def test_the_second_listen_recovers_the_name_and_its_words_are_masked_and_bleeped(
    store: Store,
    household: Household,
    corpus: Path,
    transcriber: Transcriber,
    detector: PiiDetector,
) -> None:
    samples, rate, name_start = demo_name_recording(corpus)
    draft = wake_word_only(samples, rate, name_start)
    accounted = account_for_speech(transcriber, samples, rate, draft)
    assert accounted.recovered >= 1 and accounted.unaccounted == ()
    assert all(w.start_s >= name_start - 0.4 for w in accounted.words[1:])

    work = uploaded(store, household, join_recordings(*_demo_paths(corpus)), "Veton")
    TranscribeStage(cast(Transcriber, _Replaying(transcriber, draft))).run(work)
    PiiStage(detector).run(work)
    redaction = json.loads(work.load(REDACTION) or b"{}")
    assert re.fullmatch(r"Alexa \[[A-Z_]+\]\.?", redaction["masked_text"])
    assert UNTRANSCRIBED not in redaction["masked_text"]
    bleeped = bleep(samples, rate, [tuple(s) for s in redaction["spans"]], pad_s=0.1)
    for span in speech_spans(samples, rate):
        if span[0] >= name_start - 0.1:
            assert_only_tone(bleeped, samples, rate, span)


def test_speech_still_without_a_word_is_bleeped_and_marked(
    store: Store, household: Household, corpus: Path, detector: PiiDetector
) -> None:
    samples, rate, name_start = demo_name_recording(corpus)
    draft = wake_word_only(samples, rate, name_start)
    work = uploaded(store, household, join_recordings(*_demo_paths(corpus)), "Jane")
    outcome = TranscribeStage(cast(Transcriber, DraftThenSilent(draft))).run(work)
    assert outcome.detail["untranscribed_spans"] == 1
    outcome = PiiStage(detector).run(work)
    redaction = json.loads(work.load(REDACTION) or b"{}")
    assert redaction["masked_text"] == f"Alexa [{UNTRANSCRIBED}]"
    assert outcome.detail == {"found": {}, "untranscribed": 1}
    bleeped = bleep(samples, rate, [tuple(s) for s in redaction["spans"]], pad_s=0.1)
    name = [span for span in speech_spans(samples, rate) if span[0] >= name_start - 0.1]
    assert name
    for span in name:
        assert_only_tone(bleeped, samples, rate, span)
    wake = round(draft[0].start_s * rate), round(draft[0].end_s * rate)
    np.testing.assert_array_equal(bleeped[wake[0] : wake[1]], samples[wake[0] : wake[1]])


def test_speech_the_words_cover_is_left_alone(corpus: Path, transcriber: Transcriber) -> None:
    """Ordinary commands whose every voiced stretch Whisper wrote: no second listen, no
    extra word, no extra bleep. (The rate at which ordinary speech does get one is
    measured by ``earmuff eval untranscribed``.)"""
    clips = sorted((corpus / ORDINARY).glob("*.wav"))[1:4]
    assert len(clips) == 3
    for clip in clips:
        samples, rate = load_audio(clip)
        draft = transcriber.transcribe(samples, rate)
        accounted = account_for_speech(
            cast(Transcriber, _NoSecondListen(transcriber)), samples, rate, draft.words
        )
        assert draft.words, clip.name
        assert accounted.unheard == () and accounted.unaccounted == (), clip.name
        assert accounted.words == draft.words


def test_the_demo_name_recording_reaches_no_reviewer_with_the_name_audible(
    store: Store,
    household: Household,
    corpus: Path,
    transcriber: Transcriber,
    detector: PiiDetector,
) -> None:
    """End to end through transcribe and redact with the real model: whatever tiny.en
    hears of the name, every voiced stretch after the wake word ends up under the tone."""
    samples, rate, name_start = demo_name_recording(corpus)
    work = uploaded(store, household, join_recordings(*_demo_paths(corpus)), "Jane")
    TranscribeStage(transcriber).run(work)
    PiiStage(detector).run(work)
    redaction = json.loads(work.load(REDACTION) or b"{}")
    assert redaction["masked_text"].startswith("Alexa")
    assert re.fullmatch(r"Alexa,? (\[[A-Z_ ]+\][.,]? ?)+", redaction["masked_text"])
    bleeped = bleep(samples, rate, [tuple(s) for s in redaction["spans"]], pad_s=0.1)
    name = [span for span in speech_spans(samples, rate) if span[0] >= name_start - 0.1]
    assert name
    for span in name:
        assert_only_tone(bleeped, samples, rate, span)


def test_the_marker_sits_where_the_gap_was() -> None:
    words = [Word("Alexa", 0.0, 0.8), Word("call", 2.0, 2.3), Word("Bob", 2.4, 2.8)]
    transcript = Transcript.of(words)
    from earmuff.pii.detector import Finding

    bob = Finding("PERSON", 11, 14, "Bob", 0.9)
    assert (
        mark_untranscribed(transcript, [bob], [(1.0, 1.8), (3.0, 3.5)], "X")
        == "Alexa [X] call [PERSON] [X]"
    )
    assert mark_untranscribed(transcript, [], [], "X") == "Alexa call Bob"
    assert mark_untranscribed(transcript, [], [(1.9, 2.9)], "X") == "Alexa [X]", (
        "words a second listen put in a gap are not shown: the tone hides them"
    )
    assert mark_untranscribed(transcript, [bob], [(1.9, 2.9)], "X") == "Alexa [X] [PERSON]"
    assert mark_untranscribed(Transcript.of([]), [], [(0.1, 0.9)], "X") == "[X]"


def test_a_name_heard_in_the_second_listen_is_bleeped_over_its_whole_voiced_span() -> None:
    assert widen([(2.5, 3.8), (0.2, 0.6)], [(2.8, 4.0)]) == [(2.5, 4.0), (0.2, 0.6)]


def _demo_paths(corpus: Path) -> tuple[Path, Path]:
    return sorted((corpus / "alexa").glob("*.flac"))[1], corpus / DEMO_NAME


class _Replaying:
    """The real model, except that its draft of the whole recording is the one Whisper
    wrote in the demo: "Alexa" alone. The second listen is the real model's."""

    def __init__(self, model: Transcriber, draft: list[TimedWord]) -> None:
        self.model = model
        self.draft = draft

    def transcribe(self, samples: np.ndarray, sample_rate: int, **options: Any) -> Transcription:
        if options.get("vad") is False:
            return self.model.transcribe(samples, sample_rate, **options)
        return Transcription(tuple(self.draft), "Alexa", self.model.version)


class _NoSecondListen:
    """Fails the test if a second listen is asked for."""

    def __init__(self, model: Transcriber) -> None:
        self.model = model

    def transcribe(self, *_: Any, **__: Any) -> Transcription:
        raise AssertionError("speech the words cover needs no second listen")
