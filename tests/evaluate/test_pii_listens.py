"""The PII measurement hears a clip as the pipeline does, then hears the bleeped audio
whole, as a listener would."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import cast

import numpy as np
import soundfile as sf

from earmuff.evaluate.manifest import ManifestEntry, PiiItem
from earmuff.evaluate.pii import PiiModels, redact_item
from earmuff.pii import Finding, PiiDetector
from earmuff.speech.asr import TimedWord, Transcriber, Transcription


class _NotesVad:
    """Hears "Jane" every time, and notes the voice-activity setting of each call."""

    def __init__(self) -> None:
        self.vad: list[bool | None] = []

    def transcribe(
        self,
        samples: np.ndarray,
        sample_rate: int,
        max_seconds: float | None = None,
        hotwords: str | None = None,
        vad: bool | None = None,
    ) -> Transcription:
        self.vad.append(vad)
        return Transcription((TimedWord(" Jane", 0.2, 0.5, 0.9),), "Jane", "stub")


class _Names:
    name_rules = None

    def detect(
        self, text: str, known_names: Iterable[str] = (), wake_words: Iterable[str] = ()
    ) -> list[Finding]:
        return [Finding("PERSON", 0, 4, "Jane", 0.85)] if text.startswith("Jane") else []


def test_the_second_listen_hears_the_bleeped_audio_without_cutting_silence(
    tmp_path: Path,
) -> None:
    path = tmp_path / "jane.wav"
    sf.write(path, np.full(16_000, 0.1, dtype=np.float32), 16_000)
    entry = ManifestEntry(1, "jane.wav", path, 1.0, text="Jane", pii=(PiiItem("PERSON", "Jane"),))
    transcriber = _NotesVad()
    models = PiiModels(cast(Transcriber, transcriber), cast(PiiDetector, _Names()))
    item = redact_item(models, entry, pad_s=0.1)
    assert transcriber.vad == [None, False]
    assert item.masked == "[PERSON]"
    assert item.spans == ((0.2, 0.5),)
