"""One span cut out of a recording, for a colleague's second listen.

The colleague hears only the seconds in question, never the whole item. The cut edges
fade in and out (a raised-cosine ramp) so that starting mid-word does not click: a
click at the edge is exactly where the unclear word is.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
import soundfile as sf

from earmuff.audio.codec import encode_wav

FADE_S = 0.01
"""10 ms: long enough to remove the click, short enough not to swallow a consonant."""

Samples = np.ndarray[Any, np.dtype[np.float32]]


def cut_span(
    samples: Samples, sample_rate: int, start_s: float, end_s: float, fade_s: float = FADE_S
) -> Samples:
    """Samples from ``start_s`` to ``end_s``, faded in and out; the input is untouched.

    A span that overruns the audio by less than one sample (rounding in the caller's
    duration) is cut at the end; any other span outside the audio is an error.
    """
    duration = len(samples) / sample_rate
    if not all(math.isfinite(value) for value in (start_s, end_s, fade_s)):
        raise ValueError("the span's start, end and fade must be finite numbers")
    if start_s < 0 or end_s <= start_s:
        raise ValueError(f"a span needs 0 <= start < end, got {start_s:g}-{end_s:g} s")
    if end_s > duration + 1 / sample_rate:
        raise ValueError(f"the span ends at {end_s:g} s but the audio lasts {duration:.3f} s")
    first = round(start_s * sample_rate)
    last = min(round(end_s * sample_rate), len(samples))
    if last <= first:
        raise ValueError(f"the span {start_s:g}-{end_s:g} s holds no whole sample")
    piece = samples[first:last].astype(np.float32, copy=True)
    ramp = min(round(max(fade_s, 0.0) * sample_rate), len(piece) // 4)
    if ramp > 0:
        fade_in = (0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)).astype(np.float32)
        piece[:ramp] *= fade_in
        piece[-ramp:] *= fade_in[::-1]
    return piece


def cut_wav_span(wav: bytes, start_s: float, end_s: float, fade_s: float = FADE_S) -> bytes:
    """The span of a stored (mono 16-bit PCM) WAV, as a WAV of its own."""
    with sf.SoundFile(io.BytesIO(wav)) as handle:
        rate = int(handle.samplerate)
        samples = handle.read(dtype="float32", always_2d=True)
    mono = samples.mean(axis=1, dtype=np.float32) if samples.shape[1] > 1 else samples[:, 0]
    return encode_wav(cut_span(mono, rate, start_s, end_s, fade_s), rate)


def wav_duration(wav: bytes) -> float:
    """Seconds of audio in a WAV, read from its header."""
    with sf.SoundFile(io.BytesIO(wav)) as handle:
        return int(handle.frames) / int(handle.samplerate)
