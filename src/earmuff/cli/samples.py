"""Recordings for the demo: real speech from the corpus when present, else synthesized.

Synthesis uses eSpeak NG through the library and voice data that the
``espeakng-loader`` wheel ships, so it works offline on a fresh machine.
"""

from __future__ import annotations

import ctypes
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from earmuff.audio import encode_wav
from earmuff.evaluate.manifest import load_audio
from earmuff.speech.asr import to_16k

SYNTHESIZED_PHRASES = (
    "Alexa, call my sister Maria at five five five, two one nine, four four three seven.",
    "Alexa, set a timer for ten minutes.",
    "Alexa, what's the weather like tomorrow morning?",
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
    """Real speech in the shapes a device sends.

    A wake word followed by a request that holds PII is made by joining two real
    recordings: someone saying "Alexa", then a caller giving a phone number or their
    name. Clips without the wake word show the false-wake check at work.
    """
    alexa = sorted((root / "alexa").glob("*.flac"))
    phone = sorted((root / "phone").glob("*.wav"))
    names = sorted((root / "wuw" / "calls").glob("*/WUWII*_000.ulaw"))
    samples = [
        Sample(
            "alexa + phone number", join_recordings(alexa[0], phone[1]), "wake word, then digits"
        ),
        Sample(
            "alexa + caller's name", join_recordings(alexa[1], names[0]), "wake word, then a name"
        ),
    ]
    if (root / LOST_SYNC_FLAC).exists():
        lost_sync = root / LOST_SYNC_FLAC
        samples.append(Sample(f"alexa/{lost_sync.name}", lost_sync.read_bytes(), "lost-sync FLAC"))
    command = sorted((root / "commands").glob("*.wav"))[0]
    samples.append(Sample(f"commands/{command.name[:8]}.wav", command.read_bytes(), "no wake"))
    session = sorted((root / "wuw" / "calls").iterdir())[1]
    call = session / f"WUWII{session.name}_006.ulaw"
    if call.exists():
        samples.append(
            Sample(f"wuw/{call.name}", encode_wav(*load_audio(call)), "telephone, no wake")
        )
    return samples


def join_recordings(*paths: Path) -> bytes:
    """Recordings joined at 16 kHz with a short pause between them, as one WAV."""
    pieces = []
    for path in paths:
        samples, rate = load_audio(path)
        pieces += [to_16k(samples, rate), np.zeros(3200, dtype=np.float32)]
    return encode_wav(np.concatenate(pieces), 16_000)


def synthesized_samples() -> list[Sample]:
    synthesizer = EspeakSynthesizer()
    samples = []
    for index, phrase in enumerate(SYNTHESIZED_PHRASES):
        audio, rate = synthesizer.speak(phrase, voice="en")
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

    def speak(self, text: str, voice: str = "en") -> tuple[np.ndarray, int]:
        self._lib.espeak_SetVoiceByName(voice.encode())
        self._chunks = []
        encoded = text.encode() + b"\0"
        self._lib.espeak_Synth(encoded, len(encoded), 0, 1, 0, _CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        audio = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return audio.astype(np.int16), self.sample_rate
