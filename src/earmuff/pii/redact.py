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
    """The time of every word that a finding touches, even by one character.

    A number that Whisper writes as one word of digits ("2814892") was spoken as several,
    and its time covers only part of them: on a development phone number it began 2.6 s
    into a clip whose first four digits were spoken before that, and they stayed
    audible. Such a finding takes all the time between its neighbouring words (from the
    clip's start when it opens the transcript)."""
    spans = []
    words = transcript.words
    for finding in findings:
        touched = [
            index
            for index, (start, end) in enumerate(transcript.spans)
            if start < finding.end and finding.start < end
        ]
        if not touched:
            continue
        start_s = min(words[i].start_s for i in touched)
        end_s = max(words[i].end_s for i in touched)
        if any(_is_digit_string(words[i].text) for i in touched):
            before, after = touched[0] - 1, touched[-1] + 1
            start_s = min(start_s, words[before].end_s if before >= 0 else 0.0)
            end_s = max(end_s, words[after].start_s if after < len(words) else end_s)
        spans.append((start_s, end_s))
    return spans


def _is_digit_string(text: str) -> bool:
    """A word holding two or more digits: several spoken words written as one."""
    return sum(character.isdigit() for character in text) >= 2
