"""Wake-word verification: did the recording really start with the wake word?

Two independent checks, behind one small interface so either can be swapped:

- ``OpenWakeWordDetector``: openWakeWord 0.5.1's bundled ``alexa`` ONNX model. Its
  pretrained models are licensed CC BY-NC-SA 4.0 (non-commercial): a deployment that
  may not accept that licence drops it and keeps the transcript check.
- ``TranscriptWakeCheck``: any wake word, no licence strings attached: is the wake word
  (or something within a letter or two of it) among the first words the recogniser
  heard?
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Protocol

import numpy as np

from earmuff.speech.asr import Transcriber, to_16k
from earmuff.speech.integrity import package_folder, verify_files
from earmuff.speech.text import edit_distance

OPENWAKEWORD_FILES = {
    "melspectrogram.onnx": "ba2b0e0f8b7b875369a2c89cb13360ff53bac436f2895cced9f479fa65eb176f",
    "embedding_model.onnx": "70d164290c1d095d1d4ee149bc5e00543250a7316b59f31d056cff7bd3075c1f",
}
SILENCE_LEAD = 4
"""Seconds of silence the feature state is taken after: more than the ~2 s a frame's
score reaches back (16 embeddings of 80 ms, each over 76 spectrogram frames of 10 ms)."""

SILENCE_TAIL = 2
"""Seconds of silence after each clip, so a wake word the clip cuts off still fills the
classifier's window (tested: cut 0.1 s early, it scores 0.72 without)."""

RAW_CONTEXT = 16_000
"""Samples of raw audio openWakeWord keeps; it reads at most 1,280 + 480 of them."""

OPENWAKEWORD_MODELS = {
    "alexa": (
        "alexa_v0.1.onnx",
        "6ff566a01d12670e8d9e3c59da32651db1575d17272a601b7f8a39283dfbae3e",
    ),
}


@dataclass(frozen=True)
class WakeScore:
    detector: str
    score: float
    """0-1; what counts as a wake is the caller's threshold."""
    evidence: str = ""


class WakeDetector(Protocol):
    @property
    def name(self) -> str: ...

    def supports(self, wake_word: str) -> bool: ...

    def score(self, samples: np.ndarray, sample_rate: int, wake_word: str) -> WakeScore: ...


@dataclass(frozen=True)
class WakeVerdict:
    is_wake: bool
    scores: tuple[WakeScore, ...]


class WakeVerifier:
    """Two levels, measured on the development corpus (`earmuff eval wake`):

    - an acoustic score of at least ``strong`` is a wake on its own;
    - one between ``weak`` and ``strong`` is a wake only if the recogniser, nudged
      towards the wake word, also hears it among the first words;
    - below ``weak`` it is not a wake.

    The nudged transcript never decides alone: biased towards "Alexa", Whisper hears it
    in digit strings too. A wake word the acoustic model does not know is decided by
    the plain (unbiased) transcript check.
    """

    def __init__(
        self,
        acoustic: WakeDetector | None,
        transcriber: Transcriber,
        strong: float = 0.9,
        weak: float = 0.1,
    ) -> None:
        self.acoustic = acoustic
        self.confirm = TranscriptWakeCheck(transcriber, biased=True)
        self.alone = TranscriptWakeCheck(transcriber, biased=False)
        self.strong = strong
        self.weak = weak

    def verify(self, samples: np.ndarray, sample_rate: int, wake_word: str) -> WakeVerdict:
        if self.acoustic is None or not self.acoustic.supports(wake_word):
            heard = self.alone.score(samples, sample_rate, wake_word)
            return WakeVerdict(heard.score >= 0.5, (heard,))
        acoustic = self.acoustic.score(samples, sample_rate, wake_word)
        if acoustic.score >= self.strong:
            return WakeVerdict(True, (acoustic,))
        if acoustic.score < self.weak:
            return WakeVerdict(False, (acoustic,))
        heard = self.confirm.score(samples, sample_rate, wake_word)
        return WakeVerdict(heard.score >= 0.5, (acoustic, heard))


class OpenWakeWordDetector:
    """openWakeWord on ONNX Runtime (its TFLite path does not work with NumPy 2)."""

    name = "openwakeword-0.5.1"

    def __init__(self, wake_words: tuple[str, ...] = ("alexa",)) -> None:
        from openwakeword.model import Model

        folder = package_folder("openwakeword", "resources", "models")
        features = verify_files(folder, OPENWAKEWORD_FILES)
        chosen = {w: OPENWAKEWORD_MODELS[w] for w in wake_words if w in OPENWAKEWORD_MODELS}
        models = verify_files(folder, {file: digest for file, digest in chosen.values()})
        self._labels = {word: file.removesuffix(".onnx") for word, (file, _) in chosen.items()}
        self._model = Model(
            wakeword_models=[str(models[file]) for file, _ in chosen.values()],
            inference_framework="onnx",
            melspec_model_path=str(features["melspectrogram.onnx"]),
            embedding_model_path=str(features["embedding_model.onnx"]),
        )
        preprocessor = self._model.preprocessor
        # openWakeWord 0.5.1 reads only the last 80 ms chunk and 30 ms before it from
        # its raw-audio buffer, but copies the whole buffer (10 s) into a list per chunk
        preprocessor.raw_data_buffer = deque(maxlen=RAW_CONTEXT)
        self._model.predict_clip(np.zeros(SILENCE_LEAD * 16_000, dtype=np.int16), padding=0)
        self._silence = _FeatureState.of(preprocessor)
        self._lock = threading.Lock()

    def supports(self, wake_word: str) -> bool:
        return wake_word.lower() in self._labels

    def score(self, samples: np.ndarray, sample_rate: int, wake_word: str) -> WakeScore:
        """The highest frame score over the clip.

        Every clip starts from the feature buffers as they stand after seconds of
        silence (restored, not recomputed), so it is scored as if silence led it, and
        whatever the previous clip left behind is gone. Two seconds of silence follow
        it, so a wake word at its very end still fills the classifier's window.
        """
        label = self._labels[wake_word.lower()]
        pcm = np.clip(to_16k(samples, sample_rate) * 32767, -32768, 32767).astype(np.int16)
        tail = np.zeros(SILENCE_TAIL * 16_000, dtype=np.int16)
        with self._lock:
            self._silence.restore(self._model.preprocessor)
            self._model.reset()
            frames = self._model.predict_clip(np.concatenate([pcm, tail]), padding=0)
        best = max((float(frame[label]) for frame in frames), default=0.0)
        return WakeScore(self.name, best)


@dataclass(frozen=True)
class _FeatureState:
    """openWakeWord's streaming feature buffers at one moment, to return to."""

    raw: tuple[int, ...]
    melspectrogram: np.ndarray
    features: np.ndarray
    accumulated: int
    remainder: np.ndarray

    @classmethod
    def of(cls, preprocessor: Any) -> _FeatureState:
        return cls(
            tuple(preprocessor.raw_data_buffer),
            preprocessor.melspectrogram_buffer.copy(),
            preprocessor.feature_buffer.copy(),
            preprocessor.accumulated_samples,
            preprocessor.raw_data_remainder.copy(),
        )

    def restore(self, preprocessor: Any) -> None:
        """The library replaces these arrays rather than writing into them, so they can
        be handed over as they are; only the deque is filled in place."""
        preprocessor.raw_data_buffer.clear()
        preprocessor.raw_data_buffer.extend(self.raw)
        preprocessor.melspectrogram_buffer = self.melspectrogram
        preprocessor.feature_buffer = self.features
        preprocessor.accumulated_samples = self.accumulated
        preprocessor.raw_data_remainder = self.remainder


class TranscriptWakeCheck:
    """Is the wake word among the first words heard? Works for any wake word.

    ``biased`` passes the wake word to Whisper as a hotword, which rescues a mumbled
    "Alexa" but also makes Whisper hear it where it is not: only for confirming.
    It hears its three seconds whole, without voice-activity detection, as the wake
    figures were measured.
    """

    def __init__(self, transcriber: Transcriber, first_words: int = 4, biased: bool = False):
        self.transcriber = transcriber
        self.first_words = first_words
        self.biased = biased
        self.name = "transcript+hotword" if biased else "transcript"

    def supports(self, wake_word: str) -> bool:
        return bool(wake_word.strip())

    def score(self, samples: np.ndarray, sample_rate: int, wake_word: str) -> WakeScore:
        heard = self.transcriber.transcribe(
            samples,
            sample_rate,
            max_seconds=3.0,
            hotwords=wake_word if self.biased else None,
            vad=False,
        )
        words = [_letters(w.text) for w in heard.words[: self.first_words]]
        target = _letters(wake_word)
        joined = [a + b for a, b in pairwise(words)]
        match = any(_close(candidate, target) for candidate in [*words, *joined] if candidate)
        return WakeScore(self.name, 1.0 if match else 0.0, heard.text)


def _letters(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalpha())


def _close(heard: str, target: str) -> bool:
    """Within edit distance 1 for words up to five letters, 2 for longer ones."""
    allowed = 1 if len(target) <= 5 else 2
    return edit_distance(heard, target) <= allowed
