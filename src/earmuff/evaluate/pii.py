"""PII redaction measured end to end: does the masked transcript still give the name or
the number away, and does the bleeped audio, transcribed again?

A PII word is *revealed* by a transcript when the transcript holds a word within edit
distance 1 of it (words up to five letters) or 2 (longer words): a misspelt name still
names someone. A number is revealed when four or more of its digits appear, in order,
among the transcript's digits (spoken digit words count): four digits of a phone
number narrow it down as much as the whole. Mask tags such as "[PERSON]" are not words.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from earmuff.audio.bleep import bleep
from earmuff.evaluate.manifest import ManifestEntry, PiiItem, load_entry
from earmuff.evaluate.report import Progress, fraction, percent, real_time_factor
from earmuff.pii import Finding, PiiDetector, Transcript, Word, audio_spans, mask
from earmuff.pii.recognizers import digit_runs
from earmuff.speech.asr import Transcriber
from earmuff.speech.text import edit_distance

NUMERIC_TYPES = frozenset({"PHONE_NUMBER", "NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE"})
DIGITS_THAT_REVEAL = 4
TARGET_RECALL = {"PERSON": 0.85, "PHONE_NUMBER": 0.98}
TARGET_RESIDUE = {"PERSON": 0.10, "PHONE_NUMBER": 0.02}
OVERALL = "overall"
_TAG = re.compile(r"\[[A-Z_]+\]")


def heard_words(text: str) -> list[str]:
    """The transcript's words, letters only and lower-case, without mask tags."""
    words = (_letters(word) for word in _TAG.sub(" ", text).split())
    return [word for word in words if word]


def heard_digits(text: str) -> str:
    """Every digit the transcript says, spoken or written, in order."""
    return "".join(digits for _start, _end, digits in digit_runs(_TAG.sub(" ", text)))


def close_enough(heard: str, pii_word: str) -> bool:
    allowed = 1 if len(pii_word) <= 5 else 2
    return abs(len(heard) - len(pii_word)) <= allowed and edit_distance(heard, pii_word) <= allowed


def leaks(item: PiiItem, text: str) -> list[str]:
    """What of ``item`` the transcript ``text`` gives away: the revealed words of a name,
    or the number's digits when enough of them are there. Empty: nothing revealed.

    Single letters (an initial) are not checked: at distance 1 every one-letter word
    would "reveal" them.
    """
    digits = heard_digits(item.text)
    if item.type in NUMERIC_TYPES and digits:
        needed = min(DIGITS_THAT_REVEAL, len(digits))
        return [digits] if common_subsequence(digits, heard_digits(text)) >= needed else []
    heard = heard_words(text)
    pii_words = [word for word in heard_words(item.text) if len(word) > 1]
    return [word for word in pii_words if any(close_enough(h, word) for h in heard)]


def common_subsequence(a: str, b: str) -> int:
    """Length of the longest common subsequence: digits of ``a`` found in order in ``b``."""
    previous = [0] * (len(b) + 1)
    for ca in a:
        current = [0]
        for j, cb in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if ca == cb else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def _letters(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalpha() or ch.isdigit())


@dataclass(frozen=True)
class PiiModels:
    transcriber: Transcriber
    detector: PiiDetector


@dataclass(frozen=True)
class RedactedItem:
    """One clip through the pipeline: heard, masked, bleeped, heard again."""

    entry: ManifestEntry
    heard: str
    findings: tuple[Finding, ...]
    masked: str
    spans: tuple[tuple[float, float], ...]
    reheard: str
    reference_findings: tuple[Finding, ...]
    reference_masked: str
    audio_seconds: float
    pipeline_seconds: float
    """Transcribe, detect, mask and bleep: what the pipeline spends."""
    seconds: float
    """The pipeline plus the second listen."""


def redact_item(models: PiiModels, entry: ManifestEntry, pad_s: float) -> RedactedItem:
    """The pipeline's transcribe → detect → mask → bleep, then an attacker's second
    listen: Whisper run on the bleeped audio, all of it (no voice-activity detection,
    whatever the pipeline's setting: a listener hears the silences too)."""
    samples, rate = load_entry(entry)
    started = time.perf_counter()
    heard = models.transcriber.transcribe(samples, rate)
    transcript = Transcript.of([Word(w.text, w.start_s, w.end_s) for w in heard.words])
    findings = models.detector.detect(transcript.text)
    spans = audio_spans(transcript, findings)
    bleeped = bleep(samples, rate, spans, pad_s=pad_s)
    pipeline_seconds = time.perf_counter() - started
    reheard = models.transcriber.transcribe(bleeped, rate, vad=False)
    seconds = time.perf_counter() - started
    reference = entry.text or ""
    reference_findings = models.detector.detect(reference)
    return RedactedItem(
        entry=entry,
        heard=transcript.text,
        findings=tuple(findings),
        masked=mask(transcript.text, findings),
        spans=tuple(spans),
        reheard=reheard.text,
        reference_findings=tuple(reference_findings),
        reference_masked=mask(reference, reference_findings),
        audio_seconds=len(samples) / rate,
        pipeline_seconds=pipeline_seconds,
        seconds=seconds,
    )


def evaluate_pii(
    entries: Sequence[ManifestEntry],
    models: PiiModels,
    pad_s: float,
    progress: Progress | None = None,
) -> dict[str, Any]:
    items = []
    for entry in entries:
        items.append(redact_item(models, entry, pad_s))
        if progress is not None:
            progress()
    return summarise_pii(items, models.transcriber.version)


TextOf = Callable[[RedactedItem], str]


def leak_rates(items: Sequence[RedactedItem], text_of: TextOf) -> dict[str, float | None]:
    """Per PII type and overall: the share of clips whose text reveals any PII of that
    type (overall: any PII at all)."""
    return shares(items, lambda item, pii: bool(leaks(pii, text_of(item))))


def unbleeped_rates(items: Sequence[RedactedItem]) -> dict[str, float | None]:
    """The share of clips holding PII in which not one word was bleeped: the reviewer
    hears them as recorded. The residue check cannot see this when the second listen
    mishears the name exactly as the first did."""
    return shares(items, lambda item, _pii: not item.spans)


def shares(
    items: Sequence[RedactedItem], failed: Callable[[RedactedItem, PiiItem], bool]
) -> dict[str, float | None]:
    """Per PII type and overall, the share of clips where ``failed`` holds for any of
    their PII items of that type."""
    hits: dict[str, int] = defaultdict(int)
    totals: dict[str, int] = defaultdict(int)
    for item in items:
        for kind in {OVERALL, *(p.type for p in item.entry.pii)}:
            totals[kind] += 1
            relevant = [p for p in item.entry.pii if kind in (OVERALL, p.type)]
            hits[kind] += any(failed(item, p) for p in relevant)
    return {kind: fraction(hits[kind], totals[kind]) for kind in _kinds(totals)}


def _kinds(totals: dict[str, int]) -> list[str]:
    return [OVERALL, *sorted(kind for kind in totals if kind != OVERALL)]


def recall_from(rates: dict[str, float | None]) -> dict[str, float | None]:
    return {kind: None if rate is None else 1.0 - rate for kind, rate in rates.items()}


def failures(items: Sequence[RedactedItem], text_of: TextOf) -> dict[str, list[dict[str, Any]]]:
    """The clips whose ``text_of`` reveals PII, by type, with everything needed to see
    why: reference, what Whisper heard, what was masked, what was found."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        for pii in item.entry.pii:
            leaked = leaks(pii, text_of(item))
            if leaked:
                found[pii.type].append({**item_record(item), "pii": pii.text, "leaked": leaked})
    return dict(sorted(found.items()))


def item_record(item: RedactedItem) -> dict[str, Any]:
    return {
        "file": item.entry.name,
        "reference": item.entry.text,
        "asr": item.heard,
        "masked": item.masked,
        "findings": [_finding(f) for f in item.findings],
        "bleeped_spans": [[round(s, 3), round(e, 3)] for s, e in item.spans],
        "reheard": item.reheard,
        "reference_masked": item.reference_masked,
    }


def _finding(finding: Finding) -> dict[str, Any]:
    return {"type": finding.type, "text": finding.text, "score": finding.score}


def target_check(
    rates: dict[str, float | None], targets: dict[str, float], at_least: bool
) -> dict[str, bool]:
    checked = {}
    for kind, target in targets.items():
        rate = rates.get(kind)
        if rate is not None:
            checked[kind] = rate >= target if at_least else rate <= target
    return checked


def summarise_pii(items: Sequence[RedactedItem], model: str) -> dict[str, Any]:
    audio = sum(item.audio_seconds for item in items)
    recall = recall_from(leak_rates(items, lambda i: i.masked))
    residue = leak_rates(items, lambda i: i.reheard)
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        for kind in {p.type for p in item.entry.pii}:
            counts[kind] += 1
    return {
        "model": model,
        "n": len(items),
        "n_by_type": dict(sorted(counts.items())),
        "recall": recall,
        "residue_rate": residue,
        "reference_recall": recall_from(leak_rates(items, lambda i: i.reference_masked)),
        "asr_reveal_rate": leak_rates(items, lambda i: i.heard),
        "unbleeped_rate": unbleeped_rates(items),
        "audio_seconds": round(audio, 3),
        "rtf": real_time_factor(sum(item.pipeline_seconds for item in items), audio),
        "rtf_with_residue_check": real_time_factor(sum(item.seconds for item in items), audio),
        "targets": {"recall": TARGET_RECALL, "residue_rate": TARGET_RESIDUE},
        "meets_targets": {
            "recall": target_check(recall, TARGET_RECALL, at_least=True),
            "residue_rate": target_check(residue, TARGET_RESIDUE, at_least=False),
        },
        "misses": failures(items, lambda i: i.masked),
        "residue": failures(items, lambda i: i.reheard),
        "reference_misses": failures(items, lambda i: i.reference_masked),
        "items": [item_record(item) for item in items],
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{result['model']}: {result['n']} clips, RTF {result['rtf']:.3f} "
        f"({result['rtf_with_residue_check']:.3f} with the second listen)"
    ]
    for kind in result["recall"]:
        recall, residue = result["recall"][kind], result["residue_rate"][kind]
        lines.append(
            f"  {kind}: recall {percent(recall)}{_target(TARGET_RECALL, kind, '>=')}, "
            f"residue {percent(residue)}{_target(TARGET_RESIDUE, kind, '<=')}, "
            f"recall on reference text {percent(result['reference_recall'][kind])}, "
            f"nothing bleeped {percent(result['unbleeped_rate'][kind])}, "
            f"n={result['n_by_type'].get(kind, result['n'])}"
        )
    return lines


def _target(targets: dict[str, float], kind: str, sign: str) -> str:
    return f" (target {sign} {percent(targets[kind])})" if kind in targets else ""
