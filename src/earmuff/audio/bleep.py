"""Replace spans of speech with a tone, leaving no edge of the original audible.

Each span is padded, then swapped for a 1 kHz tone. The swap is a crossfade over a few
milliseconds: a hard cut would click, and a fade of the speech alone would let its
first and last milliseconds through. Inside the span not one original sample remains.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

Samples = np.ndarray[Any, np.dtype[np.float32]]

TONE_HZ = 1000.0
TONE_LEVEL = 0.2
FADE_S = 0.005


def merge_spans(
    spans: Iterable[tuple[float, float]], pad_s: float, duration_s: float
) -> list[tuple[float, float]]:
    """Pad each (start, end) span in seconds, clip to the audio, and merge overlaps."""
    padded = sorted(
        (max(0.0, start - pad_s), min(duration_s, end + pad_s))
        for start, end in spans
        if end > start
    )
    merged: list[tuple[float, float]] = []
    for start, end in padded:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def bleep(
    samples: Samples, sample_rate: int, spans: Iterable[tuple[float, float]], pad_s: float = 0.1
) -> Samples:
    """A copy of ``samples`` with every span (seconds) replaced by a tone."""
    out = samples.astype(np.float32, copy=True)
    duration = len(samples) / sample_rate
    fade = max(1, round(FADE_S * sample_rate))
    for start_s, end_s in merge_spans(spans, pad_s, duration):
        start, end = round(start_s * sample_rate), round(end_s * sample_rate)
        outer_start, outer_end = max(0, start - fade), min(len(out), end + fade)
        t = np.arange(outer_start, outer_end) / sample_rate
        tone = (TONE_LEVEL * np.sin(2 * np.pi * TONE_HZ * t)).astype(np.float32)
        weight = np.ones(outer_end - outer_start, dtype=np.float32)
        lead, tail = start - outer_start, outer_end - end
        weight[:lead] = np.linspace(0.0, 1.0, lead, endpoint=False, dtype=np.float32)
        if tail:
            weight[-tail:] = np.linspace(1.0, 0.0, tail, endpoint=False, dtype=np.float32)
        segment = out[outer_start:outer_end]
        out[outer_start:outer_end] = weight * tone + (1.0 - weight) * segment
    return out
