"""Wake-word verification: two levels, and real recordings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from earmuff.audio import decode_audio
from earmuff.config import IngestLimits
from earmuff.evaluate.manifest import load_audio, read_manifest
from earmuff.speech.asr import TimedWord, Transcriber, Transcription, to_16k
from earmuff.speech.integrity import package_folder
from earmuff.speech.text import edit_distance
from earmuff.speech.wake import OpenWakeWordDetector, WakeRule, WakeScore, WakeVerifier


class Acoustic:
    name = "acoustic"

    def __init__(self, score: float) -> None:
        self.value = score

    def supports(self, wake_word: str) -> bool:
        return wake_word == "alexa"

    def score(self, samples: np.ndarray, sample_rate: int, wake_word: str) -> WakeScore:
        return WakeScore(self.name, self.value)


class Hears:
    """A stand-in recogniser that hears a fixed phrase, and notes whether it was nudged."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.hotwords: list[str | None] = []

    def transcribe(
        self,
        samples: np.ndarray,
        rate: int,
        max_seconds: float | None = None,
        hotwords: str | None = None,
        vad: bool | None = None,
    ) -> Transcription:
        self.hotwords.append(hotwords)
        words = tuple(TimedWord(w, 0.0, 0.1, 0.9) for w in self.text.split())
        return Transcription(words, self.text, "stub")


SILENCE = np.zeros(1600, dtype=np.float32)


@pytest.mark.parametrize(
    ("score", "heard", "is_wake", "asked"),
    [
        (0.95, "nothing", True, False),
        (0.5, "Alexa, play jazz", True, True),
        (0.5, "Our legs are", False, True),
        (0.05, "Alexa, play jazz", False, False),
    ],
)
def test_two_levels_a_middling_score_needs_the_transcript_to_agree(
    score: float, heard: str, is_wake: bool, asked: bool
) -> None:
    recogniser = Hears(heard)
    rule = WakeRule(strong=0.9, weak=0.1, below_weak="reject")
    verifier = WakeVerifier(Acoustic(score), recogniser, rule)  # type: ignore[arg-type]
    assert verifier.verify(SILENCE, 16_000, "alexa").is_wake is is_wake
    assert recogniser.hotwords == (["alexa"] if asked else [])


@pytest.mark.parametrize(
    ("score", "heard", "is_wake", "hotwords"),
    [
        (0.9999, "A sentence without it", False, ["alexa"]),
        (0.9999, "Alexa, play jazz", True, ["alexa"]),
        (0.3, "Alexa, play jazz", True, [None]),
        (0.0001, "Alexa, play jazz", True, [None]),
        (0.0001, "Play jazz", False, [None]),
    ],
)
def test_a_rule_without_strong_asks_the_transcript_at_every_score(
    score: float, heard: str, is_wake: bool, hotwords: list[str | None]
) -> None:
    """No acoustic score decides alone: a sentence scored as a sure wake is stopped and
    an "Alexa" scored as nothing is saved, each by the transcript; the nudged check is
    kept for scores above ``weak``."""
    recogniser = Hears(heard)
    rule = WakeRule(strong=None, weak=0.5, below_weak="plain")
    verifier = WakeVerifier(Acoustic(score), recogniser, rule)  # type: ignore[arg-type]
    assert verifier.verify(SILENCE, 16_000, "alexa").is_wake is is_wake
    assert recogniser.hotwords == hotwords


def test_the_rule_names_the_check_that_decides() -> None:
    rule = WakeRule(strong=0.99, weak=0.1, below_weak="plain")
    assert [rule.check(s) for s in (0.995, 0.5, 0.01)] == [None, "nudged", "plain"]
    assert rule.decide(0.995, None) is True
    with pytest.raises(ValueError, match="needs the transcript"):
        rule.decide(0.5, None)
    assert WakeRule(0.9, 0.1, "reject").decide(0.01, None) is False
    assert rule.describe() == (
        "openwakeword >= 0.99 alone; >= 0.1: nudged transcript; below 0.1: plain transcript"
    )


def test_a_wake_word_the_acoustic_model_does_not_know_is_heard_without_a_nudge() -> None:
    recogniser = Hears("Wildfire, what time is it")
    rule = WakeRule(strong=0.9, weak=0.1, below_weak="reject")
    verifier = WakeVerifier(Acoustic(0.0), recogniser, rule)  # type: ignore[arg-type]
    assert verifier.verify(SILENCE, 16_000, "wildfire").is_wake
    assert recogniser.hotwords == [None]


def test_edit_distance() -> None:
    assert edit_distance("alexa", "alexa") == 0
    assert edit_distance("alexia", "alexa") == 1
    assert edit_distance("", "abc") == 3


def library_model() -> Any:
    """openWakeWord's own streaming model, as the library's examples build it."""
    from openwakeword.model import Model

    folder = package_folder("openwakeword", "resources", "models")
    return Model(
        wakeword_models=[str(folder / "alexa_v0.1.onnx")],
        inference_framework="onnx",
        melspec_model_path=str(folder / "melspectrogram.onnx"),
        embedding_model_path=str(folder / "embedding_model.onnx"),
    )


def test_real_wake_words_score_high_and_coffee_orders_low(corpus: Path) -> None:
    detector = OpenWakeWordDetector()
    limits = IngestLimits()
    wake = decode_audio((corpus / "alexa" / "0.flac").read_bytes(), limits)
    order = decode_audio(sorted((corpus / "commands").glob("*.wav"))[0].read_bytes(), limits)
    assert detector.score(wake.samples, wake.sample_rate, "alexa").score > 0.9
    assert detector.score(order.samples, order.sample_rate, "alexa").score < 0.1
    again = detector.score(wake.samples, wake.sample_rate, "alexa").score
    assert again == detector.score(wake.samples, wake.sample_rate, "alexa").score


def test_scores_equal_the_librarys_own_padded_streaming(corpus: Path) -> None:
    """The detector starts every clip from the state silence leaves, and computes the
    library's windows from the whole clip at once instead of streaming it chunk by
    chunk: the scores must be openWakeWord's, clip for clip."""
    detector = OpenWakeWordDetector()
    reference = library_model()
    every = read_manifest(corpus / "manifests" / "wake.jsonl", corpus)
    wakes = [entry for entry in every if entry.label == "wake"][:6]
    others = [entry for entry in every if entry.label == "other"][:6]
    entries = [entry for pair in zip(wakes, others, strict=True) for entry in pair]
    reference.predict_clip(np.zeros(16_000, dtype=np.int16), padding=2)
    scores = []
    for entry in entries:
        samples, rate = load_audio(entry.path)
        head = samples[: 3 * rate]
        pcm = np.clip(to_16k(head, rate) * 32767, -32768, 32767)
        reference.reset()
        frames = reference.predict_clip(pcm.astype(np.int16), padding=2)
        expected = max(float(frame["alexa_v0.1"]) for frame in frames)
        scores.append(detector.score(head, rate, "alexa").score)
        assert scores[-1] == pytest.approx(expected, abs=1e-4), entry.audio_filepath
    assert any(0.1 < score < 0.9 for score in scores), "a clip between the thresholds"


def test_silence_and_nothing_score_as_the_library_scores_silence() -> None:
    """Windows of pure silence are not sent to the embedding model again: their scores
    must still be the library's."""
    reference = library_model()
    reference.predict_clip(np.zeros(4 * 16_000, dtype=np.int16), padding=0)
    reference.reset()
    frames = reference.predict_clip(np.zeros(5 * 16_000, dtype=np.int16), padding=0)
    expected = max(float(frame["alexa_v0.1"]) for frame in frames)
    detector = OpenWakeWordDetector()
    for silence in (np.zeros(3 * 16_000, dtype=np.float32), np.zeros(0, dtype=np.float32)):
        assert detector.score(silence, 16_000, "alexa").score == pytest.approx(expected, rel=1e-3)


def test_a_wake_word_cut_off_by_the_end_of_the_clip_still_scores_as_a_wake(
    corpus: Path,
) -> None:
    """The wake check sees only a recording's first seconds, which may end mid-word: the
    silence after the clip lets the classifier's window fill (without it: 0.72)."""
    samples, rate = load_audio(corpus / "alexa" / "0.flac")
    energy = np.convolve(samples**2, np.ones(400) / 400, mode="same")
    speech_ends = int(np.nonzero(energy > 0.05 * energy.max())[0][-1])
    cut = samples[: speech_ends - rate // 10]
    assert OpenWakeWordDetector().score(cut, rate, "alexa").score > 0.9


def test_whisper_gives_words_with_times_on_telephone_speech(corpus: Path) -> None:
    import soundfile as sf

    path = corpus / "wuw" / "calls" / "00000" / "WUWII00000_006.ulaw"
    samples, rate = sf.read(
        path, samplerate=8000, channels=1, format="RAW", subtype="ULAW", dtype="float32"
    )
    heard = Transcriber("tiny.en").transcribe(samples, rate)
    assert "operator" in heard.text.lower()
    starts = [w.start_s for w in heard.words]
    assert starts == sorted(starts) and heard.words[-1].end_s <= len(samples) / rate + 0.5
