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


def mark_untranscribed(
    transcript: Transcript,
    findings: Sequence[Finding],
    gaps: Sequence[tuple[float, float]],
    tag: str,
) -> str:
    """The masked text with ``[tag]`` where each gap (seconds) was bleeped.

    The reviewer hears a tone there that no PII tag explains; the tag says the audio was
    muted because the first listen heard no word in it. Words a second listen put in a
    gap are replaced by the tag too, unless a finding already masks them: they are what
    Whisper made of a stretch it first skipped, and a name misheard as ordinary words
    ("Nordgren." unflagged, "the cloud" for Macloud) would tell the reader what the
    tone hides."""
    kept, cursor = [], 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start >= cursor:
            kept.append(finding)
            cursor = finding.end
    inside: list[Finding] = []
    empty = []
    for gap_start, gap_end in gaps:
        heard = [
            index
            for index, word in enumerate(transcript.words)
            if gap_start <= (word.start_s + word.end_s) / 2 <= gap_end
        ]
        if not heard:
            empty.append(gap_start)
            continue
        run: list[int] = []
        for index in [*heard, -1]:
            start, end = transcript.spans[index] if index >= 0 else (0, 0)
            free = index >= 0 and not any(f.start < end and start < f.end for f in kept)
            if free and (not run or index == run[-1] + 1):
                run.append(index)
                continue
            if run:
                first, last = transcript.spans[run[0]][0], transcript.spans[run[-1]][1]
                inside.append(Finding(tag, first, last, transcript.text[first:last], 1.0))
            run = [index] if free else []
    kept = sorted([*kept, *inside], key=lambda f: f.start)
    masked = mask(transcript.text, kept)
    positions = set()
    for gap_start in empty:
        before = sum((w.start_s + w.end_s) / 2 < gap_start for w in transcript.words)
        at = transcript.spans[before][0] if before < len(transcript.words) else len(transcript.text)
        if any(f.start < at < f.end for f in kept):
            continue
        positions.add(at + sum(len(f"[{f.type}]") - (f.end - f.start) for f in kept if f.end <= at))
    for at in sorted(positions, reverse=True):
        masked = f"{masked[:at]} [{tag}] {masked[at:]}"
    return " ".join(masked.split())
