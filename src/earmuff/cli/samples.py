"""Recordings for the demo: real speech from the corpus when present, else synthesized.

Synthesis uses eSpeak NG through the library and voice data that the
``espeakng-loader`` wheel ships, so it works offline on a fresh machine.
"""

from __future__ import annotations

import ctypes
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

SYNTHESIZED_PHRASES = (
    "Alexa, what's the weather like tomorrow morning?",
    "Alexa, set a timer for ten minutes.",
    "Alexa, call my sister Maria at five five five, two one nine, four four three seven.",
    "Alexa, add oat milk and coffee beans to my shopping list.",
    "Alexa, play some quiet music in the kitchen.",
)


LOST_SYNC_FLAC = Path("alexa") / "126.flac"
"""A valid FLAC that libsndfile refuses ("lost sync"): the demo shows it decoded anyway."""


@dataclass(frozen=True)
class Sample:
    name: str
    audio: bytes
    what: str


def demo_samples(corpus: Path | None) -> tuple[list[Sample], str]:
    """Samples and a phrase saying where they came from."""
    if corpus is not None and (corpus / "alexa").is_dir():
        return corpus_samples(corpus), f"real speech from {corpus}"
    return synthesized_samples(), "speech synthesized with eSpeak NG (no corpus found)"


def corpus_samples(root: Path) -> list[Sample]:
    """A few clips of each kind: wake words (FLAC), coffee orders (WAV), phone calls (mu-law)."""
    wake_words = sorted((root / "alexa").glob("*.flac"))[:2]
    if (root / LOST_SYNC_FLAC).exists():
        wake_words.append(root / LOST_SYNC_FLAC)
    samples = [
        Sample(f"alexa/{p.name}", p.read_bytes(), "someone saying the wake word")
        for p in wake_words
    ]
    labels = json.loads((root / "commands" / "labels.json").read_text(encoding="utf-8"))
    for name in sorted(labels)[:3]:
        slots = ", ".join(labels[name]["slots"].values())
        audio = (root / "commands" / name).read_bytes()
        samples.append(Sample(f"commands/{name[:8]}.wav", audio, f"order: {slots}"))
    for call in sorted((root / "wuw" / "calls").iterdir())[:2]:
        path = call / f"WUWII{call.name}_006.ulaw"
        if path.exists():
            samples.append(Sample(f"wuw/{path.name}", _ulaw_to_wav(path), "telephone speech"))
    return samples


def _ulaw_to_wav(path: Path) -> bytes:
    """Headerless 8 kHz mu-law, as WUW-II stores it, wrapped as the WAV a device would send."""
    samples, rate = sf.read(path, samplerate=8000, channels=1, format="RAW", subtype="ULAW")
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def synthesized_samples() -> list[Sample]:
    synthesizer = EspeakSynthesizer()
    samples = []
    for index, phrase in enumerate(SYNTHESIZED_PHRASES):
        audio, rate = synthesizer.speak(phrase, voice=("en-us", "en", "en-us+f3")[index % 3])
        buffer = io.BytesIO()
        sf.write(buffer, audio, rate, format="WAV", subtype="PCM_16")
        samples.append(Sample(f"espeak/{index}.wav", buffer.getvalue(), phrase))
    return samples


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
_SYNCHRONOUS = 2
_CHARS_UTF8 = 1


class EspeakSynthesizer:
    """Text to 16-bit mono speech with the eSpeak NG library from ``espeakng-loader``."""

    def __init__(self) -> None:
        import espeakng_loader

        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_path = espeakng_loader.get_data_path().encode()
        self._lib.espeak_Initialize.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
        ]
        self.sample_rate = int(self._lib.espeak_Initialize(_SYNCHRONOUS, 0, data_path, 0))
        if self.sample_rate <= 0:
            raise RuntimeError("eSpeak NG failed to initialise")
        self._chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def speak(self, text: str, voice: str = "en-us") -> tuple[np.ndarray, int]:
        self._lib.espeak_SetVoiceByName(voice.encode())
        self._chunks = []
        encoded = text.encode() + b"\0"
        self._lib.espeak_Synth(encoded, len(encoded), 0, 1, 0, _CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return audio.astype(np.int16), self.sample_rate
