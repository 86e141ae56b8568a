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

import math
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

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

CHUNK = 1280
"""openWakeWord's step: 80 ms at 16 kHz."""

MEL_CONTEXT = 480
"""Samples before a chunk that its spectrogram is computed over too."""

MEL_HOP = 160
"""Samples between spectrogram frames (10 ms)."""

MEL_WINDOW = 76
"""Spectrogram frames (10 ms) behind one embedding."""

WARM_UP_FRAMES = 5
"""Frames after a reset that ``Model.predict`` scores as 0."""

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


Check = Literal["nudged", "plain"]
"""Which transcript check decides: the recogniser nudged towards the wake word, or not."""

BelowWeak = Literal["reject", "plain", "nudged"]


@dataclass(frozen=True)
class WakeRule:
    """Where the acoustic score decides alone, and which transcript check decides elsewhere.

    - an acoustic score of at least ``strong`` is a wake on its own (``None``: never, so
      every recording is heard by the recogniser);
    - one between ``weak`` and ``strong`` is a wake only if the recogniser, nudged
      towards the wake word, hears it among the first words;
    - below ``weak``, ``below_weak`` says what decides: ``reject`` (not a wake, the
      transcript unasked), ``plain`` (the recogniser must hear the wake word without
      being nudged) or ``nudged``.

    The nudged check is kept for scores that already point at the wake word: nudged
    towards "Alexa", Whisper hears it in digit strings too, and when a request follows
    the wake word it sometimes writes the request alone, so a near-certain acoustic
    score is better left to decide by itself. Below ``weak`` the plain
    check can still rescue an "Alexa" the acoustic model scored as nothing, and above it
    the transcript can stop a sentence that merely sounds like one: the acoustic score
    decides alone only where the rule was chosen to let it (``earmuff eval wake``
    chooses the rule by cross-validation over speakers).
    """

    strong: float | None
    weak: float
    below_weak: BelowWeak

    def check(self, acoustic: float) -> Check | None:
        """The transcript check that decides at this acoustic score; None where the
        acoustic score decides alone."""
        if self.strong is not None and acoustic >= self.strong:
            return None
        if acoustic >= self.weak:
            return "nudged"
        return None if self.below_weak == "reject" else self.below_weak

    def decide(self, acoustic: float, heard: bool | None) -> bool:
        """The verdict from the acoustic score and, where :meth:`check` names one, whether
        that transcript check heard the wake word."""
        if self.check(acoustic) is None:
            return self.strong is not None and acoustic >= self.strong
        if heard is None:
            raise ValueError("this acoustic score needs the transcript check's answer")
        return heard

    def describe(self) -> str:
        parts = [] if self.strong is None else [f"openwakeword >= {self.strong:g} alone"]
        if self.weak < (math.inf if self.strong is None else self.strong):
            parts.append(f">= {self.weak:g}: nudged transcript")
        if self.weak > 0:
            below = "reject" if self.below_weak == "reject" else f"{self.below_weak} transcript"
            parts.append(f"below {self.weak:g}: {below}" if math.isfinite(self.weak) else below)
        return "; ".join(parts)


class WakeVerifier:
    """The acoustic score fused with a check of the first words, as ``rule`` says.

    A wake word the acoustic model does not know is decided by the plain (unbiased)
    transcript check alone.
    """

    def __init__(
        self, acoustic: WakeDetector | None, transcriber: Transcriber, rule: WakeRule
    ) -> None:
        self.acoustic = acoustic
        self.confirm = TranscriptWakeCheck(transcriber, biased=True)
        self.alone = TranscriptWakeCheck(transcriber, biased=False)
        self.rule = rule

    def verify(self, samples: np.ndarray, sample_rate: int, wake_word: str) -> WakeVerdict:
        if self.acoustic is None or not self.acoustic.supports(wake_word):
            heard = self.alone.score(samples, sample_rate, wake_word)
            return WakeVerdict(heard.score >= 0.5, (heard,))
        acoustic = self.acoustic.score(samples, sample_rate, wake_word)
        check = self.rule.check(acoustic.score)
        if check is None:
            return WakeVerdict(self.rule.decide(acoustic.score, None), (acoustic,))
        transcript = self.confirm if check == "nudged" else self.alone
        heard = transcript.score(samples, sample_rate, wake_word)
        return WakeVerdict(self.rule.decide(acoustic.score, heard.score >= 0.5), (acoustic, heard))


class OpenWakeWordDetector:
    """openWakeWord on ONNX Runtime (its TFLite path does not work with NumPy 2).

    The library scores a clip by streaming it in 80 ms chunks, three model calls per
    chunk (spectrogram, embedding, classifier): 186 calls for a three-second check, whose
    cost was most of the wake stage's time. ``score`` computes the same numbers with
    one embedding call for the whole clip, on ``threads`` cores (the library runs its
    models on one; its embedding session is replaced by one that uses more), skipping
    the windows of pure silence. The spectrogram model (which floors its output relative
    to the loudest value in its whole input, so chunks sent together would change each
    other's numbers) and the classifier (whose input has a fixed batch of one) still run
    per chunk. Nothing is kept from one clip to the next, so threads may score clips at
    once.
    """

    name = "openwakeword-0.5.1"

    def __init__(self, wake_words: tuple[str, ...] = ("alexa",), threads: int = 2) -> None:
        import onnxruntime
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
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self._model.preprocessor.embedding_model = onnxruntime.InferenceSession(
            str(features["embedding_model.onnx"]), options, providers=["CPUExecutionProvider"]
        )
        self._model.predict_clip(np.zeros(SILENCE_LEAD * 16_000, dtype=np.int16), padding=0)
        widest = max(self._model.model_inputs.values())
        self._silence = _Context.of(self._model.preprocessor, widest)

    def supports(self, wake_word: str) -> bool:
        return wake_word.lower() in self._labels

    def score(self, samples: np.ndarray, sample_rate: int, wake_word: str) -> WakeScore:
        """The highest frame score over the clip.

        Every clip is scored as if it followed seconds of silence, whatever came before
        it, with two seconds of silence after it, so a wake word at its very end still
        fills the classifier's window.
        """
        label = self._labels[wake_word.lower()]
        pcm = np.clip(to_16k(samples, sample_rate) * 32767, -32768, 32767).astype(np.int16)
        tail = np.zeros(SILENCE_TAIL * 16_000, dtype=np.int16)
        frames = self._frame_scores(np.concatenate([pcm, tail]), label)
        return WakeScore(self.name, float(frames.max(initial=0.0)))

    def _frame_scores(self, pcm: np.ndarray, label: str) -> np.ndarray:
        """What ``Model.predict_clip(pcm, padding=0)`` gives after ``reset()`` from the
        silence context, frame by frame.

        The library's streaming computes each chunk's spectrogram from that chunk and
        the 480 samples before it, each embedding from the last 76 spectrogram frames,
        each score from the last 16 embeddings; here the same windows are cut from the
        whole clip and sent as batches. Where a window holds nothing but digital
        silence (most of the silence after the clip), its result is the silence
        context's own, which is what the model gives for it, so it is not computed
        again. Like ``predict_clip``, the last (possibly partial) chunk is not scored,
        and like ``predict`` after a reset, the first five frames score 0.
        """
        preprocessor = self._model.preprocessor
        context = self._silence
        chunks = (len(pcm) - 1) // CHUNK
        if chunks < 1:
            return np.zeros(0)
        audio = np.concatenate([context.raw, pcm[: chunks * CHUNK]])
        spans = sliding_window_view(audio, CHUNK + MEL_CONTEXT)[::CHUNK]
        silent_chunk = context.melspectrogram[-(CHUNK // MEL_HOP) :]
        mel = np.concatenate(
            [
                context.melspectrogram,
                *(
                    preprocessor._get_melspectrogram(span) if span.any() else silent_chunk
                    for span in spans
                ),
            ]
        )
        ends = len(context.melspectrogram) + CHUNK // MEL_HOP * np.arange(1, chunks + 1)
        windows = sliding_window_view(mel, MEL_WINDOW, axis=0)[ends - MEL_WINDOW]
        fresh = ~(windows == context.melspectrogram.T).all(axis=(1, 2))
        embedded = np.tile(context.features[-1], (chunks, 1))
        if fresh.any():
            batch = np.ascontiguousarray(windows[fresh].transpose(0, 2, 1)[..., None])
            found = preprocessor.embedding_model.run(None, {"input_1": batch})[0]
            embedded[fresh] = found.reshape(len(batch), -1)
        features = np.concatenate([context.features, embedded])
        classify = self._model.model_prediction_function[label]
        width = self._model.model_inputs[label]
        offset = len(context.features) - width + 1
        scores = np.array(
            [
                float(np.ravel(classify(features[None, offset + i : offset + i + width])[0])[0])
                for i in range(chunks)
            ]
        )
        scores[:WARM_UP_FRAMES] = 0.0
        return scores


@dataclass(frozen=True)
class _Context:
    """The end of openWakeWord's streaming buffers after seconds of digital silence:
    what a clip's first chunks read back into (raw samples, spectrogram frames,
    embeddings). Being silence, its last spectrogram frames are those of any silent
    chunk, and its last embedding that of any silent window."""

    raw: np.ndarray
    melspectrogram: np.ndarray
    features: np.ndarray

    @classmethod
    def of(cls, preprocessor: Any, features: int) -> _Context:
        return cls(
            np.asarray(list(preprocessor.raw_data_buffer)[-MEL_CONTEXT:], dtype=np.int16),
            preprocessor.melspectrogram_buffer[-MEL_WINDOW:].astype(np.float32),
            preprocessor.feature_buffer[-features:].astype(np.float32),
        )


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
