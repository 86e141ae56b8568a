"""The recogniser: pinned model files, and voice-activity detection that cuts silence
without moving a word off the recording's own clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from earmuff.evaluate.manifest import load_audio
from earmuff.speech import asr
from earmuff.speech.asr import Transcriber
from earmuff.speech.integrity import ModelIntegrityError

CLIP = Path("wuw") / "calls" / "00000" / "WUWII00000_007.ulaw"
PAD_S = 3.0


@pytest.fixture(scope="module")
def cutting() -> Transcriber:
    return Transcriber("tiny.en", sampling_seed=0, vad=True)


def test_a_voice_activity_model_that_differs_from_its_pin_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(asr, "SILERO_VAD_SHA256", "0" * 64)
    with pytest.raises(ModelIntegrityError, match=r"silero_vad_v6\.onnx"):
        Transcriber("tiny.en", vad=True)


def test_the_version_says_whether_silence_is_cut(cutting: Transcriber) -> None:
    assert cutting.version.endswith("int8, Silero VAD)")


def test_silence_alone_gives_no_words_where_whisper_alone_invents_one(
    cutting: Transcriber,
) -> None:
    silence = np.zeros(5 * 16_000, dtype=np.float32)
    assert cutting.transcribe(silence, 16_000).words == ()
    assert cutting.transcribe(silence, 16_000, vad=False).words


def test_words_after_cut_silence_keep_their_times_in_the_recording(
    corpus: Path, cutting: Transcriber
) -> None:
    samples, rate = load_audio(corpus / CLIP)
    silence = np.zeros(round(PAD_S * rate), dtype=np.float32)
    padded = np.concatenate([silence, samples, silence])
    alone = cutting.transcribe(samples, rate).words
    cut = cutting.transcribe(padded, rate).words
    assert alone and cut
    assert cut[0].start_s - alone[0].start_s == pytest.approx(PAD_S, abs=0.25)
    assert cut[-1].end_s - alone[-1].end_s == pytest.approx(PAD_S, abs=0.25)
    assert all(PAD_S - 0.5 <= word.start_s <= PAD_S + len(samples) / rate for word in cut)
