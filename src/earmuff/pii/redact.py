"""From findings in the text to what is masked: typed tags in the text, times in the audio.

The transcript is built from the recognizer's words, so every character knows the word
it came from and every word its time: a finding's characters give the words to bleep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from earmuff.pii.detector import Finding


@dataclass(frozen=True)
class Word:
    text: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class Transcript:
    """Words joined by single spaces, with each word's character span in ``text``."""

    words: tuple[Word, ...]
    text: str
    spans: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, words: Sequence[Word]) -> Transcript:
        cleaned = [Word(w.text.strip(), w.start_s, w.end_s) for w in words if w.text.strip()]
        spans, cursor = [], 0
        for word in cleaned:
            spans.append((cursor, cursor + len(word.text)))
            cursor += len(word.text) + 1
        return cls(tuple(cleaned), " ".join(w.text for w in cleaned), tuple(spans))


def mask(text: str, findings: Sequence[Finding]) -> str:
    """``text`` with each finding replaced by its type in brackets: "call [PERSON]"."""
    out, cursor = [], 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start < cursor:
            continue
        out.append(text[cursor : finding.start])
        out.append(f"[{finding.type}]")
        cursor = finding.end
    out.append(text[cursor:])
    return "".join(out)


def audio_spans(transcript: Transcript, findings: Sequence[Finding]) -> list[tuple[float, float]]:
    """The time of every word that a finding touches, even by one character."""
    spans = []
    for finding in findings:
        touched = [
            word
            for word, (start, end) in zip(transcript.words, transcript.spans, strict=True)
            if start < finding.end and finding.start < end
        ]
        if touched:
            spans.append((min(w.start_s for w in touched), max(w.end_s for w in touched)))
    return spans
