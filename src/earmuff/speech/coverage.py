"""Voiced audio that the transcript does not account for.

What is bleeped is decided from the transcript, so speech that carries no timed word is
never looked at: on the demo's "alexa + caller's name" Whisper wrote "Alexa" and nothing
after it, and the caller's full name reached the reviewer. Silero's voice-activity
detector (the one faster-whisper bundles, checked by :class:`~earmuff.speech.asr.Transcriber`)
says where someone spoke; whatever of that no word covers is reported here.

The detector is run more eagerly than the one that cuts silence before Whisper: at its
default threshold Silero missed whole names said over the telephone, and its defaults
(2 s of silence before a span ends, 0.4 s of padding) would count pauses as speech.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from earmuff.speech.asr import WHISPER_RATE, to_16k

Span = tuple[float, float]


@dataclass(frozen=True)
class CoverageRules:
    """How eager the detector is and how much uncovered speech counts.

    ``word_margin_s`` widens each word: Whisper's word times are often a tenth of a
    second off, and voiced audio just beside a word is that word. ``min_gap_s``: a
    shorter stretch is a breath or a word's tail, not a word nobody wrote.
    """

    threshold: float = 0.3
    min_silence_ms: int = 300
    speech_pad_ms: int = 60
    word_margin_s: float = 0.15
    min_gap_s: float = 0.25


def speech_spans(
    samples: np.ndarray, sample_rate: int, rules: CoverageRules = CoverageRules()
) -> list[Span]:
    """Where Silero hears speech, in seconds of the clip's own clock."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    audio = to_16k(samples, sample_rate)
    if len(audio) == 0:
        return []
    options = VadOptions(
        threshold=rules.threshold,
        min_silence_duration_ms=rules.min_silence_ms,
        speech_pad_ms=rules.speech_pad_ms,
    )
    return [
        (chunk["start"] / WHISPER_RATE, chunk["end"] / WHISPER_RATE)
        for chunk in get_speech_timestamps(audio, options)
    ]


def unaccounted(
    speech: Sequence[Span], words: Iterable[Span], rules: CoverageRules = CoverageRules()
) -> list[Span]:
    """The parts of ``speech`` that no word (widened by its margin) touches, each at
    least ``min_gap_s`` long."""
    covered = sorted(
        (start - rules.word_margin_s, end + rules.word_margin_s) for start, end in words
    )
    gaps: list[Span] = []
    for start, end in speech:
        cursor = start
        for word_start, word_end in covered:
            if word_end <= cursor or word_start >= end:
                continue
            if word_start > cursor:
                gaps.append((cursor, word_start))
            cursor = max(cursor, word_end)
        if cursor < end:
            gaps.append((cursor, end))
    return [(start, end) for start, end in gaps if end - start >= rules.min_gap_s]
