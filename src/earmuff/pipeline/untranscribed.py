"""Speech the draft transcript leaves out: heard again alone, then bleeped and marked.

Whisper, given "Alexa" and a name, often writes "Alexa" and stops; nothing is then
found and nothing bleeped, and the reviewer hears the name. The transcript decides what
is bleeped, so voiced audio it does not account for is where names slip through.

Each such span is heard again alone, without the wake word before it: its words join
the transcript, so that the PII stage finds what they name (and a digit string split
by the gap is whole again). The second listen still hears some names as ordinary words,
which no PII rule flags, so the span is bleeped whole whatever it found: a breath or an
"uh" that Whisper left out costs a tone, a name that would have leaked costs nothing.
``earmuff eval untranscribed`` measures both (docs/research/untranscribed-speech.md).

The reviewer reads :data:`UNTRANSCRIBED` where the tone is, in place of any word the
second listen put there that no PII tag already masks (a misheard name is a leak in the
text too), and so knows why a tone sounds where no PII tag is. Holding such items back
instead would withhold a large share of ordinary recordings from review."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from earmuff.speech.asr import TimedWord, Transcriber
from earmuff.speech.coverage import CoverageRules, Span, speech_spans, unaccounted

UNTRANSCRIBED = "UNTRANSCRIBED_SPEECH"
"""The tag the masked transcript carries where speech was bleeped without a word,
spelt like the PII tags so that whatever reads tags (the synthetic voice, the PII
evaluation) treats it as one."""
CONTEXT_S = 0.3
"""Audio kept on each side of a span for the second listen: Whisper cuts off a word it
hears start at the very first sample."""
PAUSE_S = 0.5
"""Silence between the spans heard together, so that words of two spans stay apart."""


@dataclass(frozen=True)
class Accounting:
    """The words after the second listen, and what is still without a word."""

    words: tuple[TimedWord, ...]
    speech: tuple[Span, ...]
    unheard: tuple[Span, ...]
    """Voiced spans the draft transcript left without a word."""
    recovered: int
    """Words the second listen added."""
    unaccounted: tuple[Span, ...]
    """What even the second listen left without a word (measured; every unheard span
    is bleeped)."""


def account_for_speech(
    transcriber: Transcriber,
    samples: np.ndarray,
    sample_rate: int,
    words: Sequence[TimedWord],
    rules: CoverageRules = CoverageRules(),
) -> Accounting:
    """The draft's ``words`` with what a second listen to the unheard spans adds.

    The spans are heard in one call, each with its context and a pause between them:
    Whisper's encoder costs a whole 30 s window per call however short the audio, and
    on ``bench/pipeline.py`` (10 clips) a call per span made the pipeline cost 1.71
    times bare transcription, one call 1.46, and 1.21 without any second listen."""
    speech = speech_spans(samples, sample_rate, rules)
    unheard = unaccounted(speech, ((w.start_s, w.end_s) for w in words), rules)
    added: list[TimedWord] = []
    if unheard:
        duration = len(samples) / sample_rate
        pause = np.zeros(round(PAUSE_S * sample_rate), dtype=samples.dtype)
        pieces, placed, cursor = [], [], 0.0
        for start, end in unheard:
            begin, finish = max(0.0, start - CONTEXT_S), min(duration, end + CONTEXT_S)
            piece = samples[round(begin * sample_rate) : round(finish * sample_rate)]
            pieces += [piece, pause]
            placed.append((cursor, begin, start, end))
            cursor += (len(piece) + len(pause)) / sample_rate
        heard = transcriber.transcribe(np.concatenate(pieces), sample_rate, vad=False)
        for word in heard.words:
            middle = (word.start_s + word.end_s) / 2
            for at, begin, start, end in placed:
                shift = begin - at
                if word.text.strip() and start <= middle + shift <= end:
                    added.append(
                        TimedWord(
                            word.text, word.start_s + shift, word.end_s + shift, word.probability
                        )
                    )
                    break
    merged = tuple(sorted((*words, *added), key=lambda w: (w.start_s, w.end_s)))
    left = unaccounted(unheard, ((w.start_s, w.end_s) for w in added), rules)
    return Accounting(merged, tuple(speech), tuple(unheard), len(added), tuple(left))


def widen(spans: Sequence[Span], unheard: Sequence[Span]) -> list[Span]:
    """Each PII span stretched over every unheard span it touches.

    The second listen's word times are rougher than the draft's (Whisper hears a short
    clip with little context): on the demo's name they ended 0.17 s before the voice
    did, and the last syllable would have stayed audible. The voiced span is the
    better edge."""
    widened = []
    for start, end in spans:
        for other_start, other_end in unheard:
            if other_start < end and start < other_end:
                start, end = min(start, other_start), max(end, other_end)
        widened.append((start, end))
    return widened
