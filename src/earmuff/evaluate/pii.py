"""PII redaction measured end to end: does the masked transcript still give the name or
the number away, and does the bleeped audio, transcribed again?

A PII word is *revealed* by a transcript when the transcript holds a word within edit
distance 1 of it (words up to five letters) or 2 (longer words): a misspelt name still
names someone. A number is revealed when four or more of its digits appear, in order,
among the transcript's digits (spoken digit words count): four digits of a phone
number narrow it down as much as the whole. Mask tags such as "[PERSON]" are not words.

The clips are redacted as the pipeline redacts them: with the account's registered
first name (a manifest line's ``known_names``) and the wake words it is given. The
top-level figures are the pipeline's; ``without_known_names`` holds the same figures
for a device that knows no name, from the same first listen. ``false_masks`` counts
what the fuzzy name match costs: utterances paired with a known name they do not
contain, and how often a word of them is masked for it.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from earmuff.audio.bleep import Samples, bleep
from earmuff.evaluate.intervals import REPLICATES, percentile_interval, resample_speakers
from earmuff.evaluate.manifest import ManifestEntry, ManifestError, PiiItem, load_entry, parse_json
from earmuff.evaluate.report import Progress, fraction, percent, real_time_factor
from earmuff.pii import Finding, PiiDetector, Transcript, Word, audio_spans, mask
from earmuff.pii.detector import WAKE_WORDS
from earmuff.pii.names import EXACT_ONLY, KnownNameRecognizer, NameRules, letters
from earmuff.pii.recognizers import digit_runs
from earmuff.speech.asr import Transcriber
from earmuff.speech.text import edit_distance

NUMERIC_TYPES = frozenset({"PHONE_NUMBER", "NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE"})
DIGITS_THAT_REVEAL = 4
TARGET_RECALL = {"PERSON": 0.95, "PHONE_NUMBER": 1.0}
TARGET_RESIDUE = {"PERSON": 0.05, "PHONE_NUMBER": 0.0}
TARGET_RECALL_WITHOUT_NAMES = {"PERSON": 0.85, "PHONE_NUMBER": 1.0}
TARGET_RESIDUE_WITHOUT_NAMES = {"PERSON": 0.10, "PHONE_NUMBER": 0.0}
"""Issue 27: the pipeline knows the registered first name; a device without one must
still hide most names."""
WITHOUT_NAMES = "without_known_names"
INTERVAL_SEED = 27
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
    wake_words: tuple[str, ...] = WAKE_WORDS
    """What the pipeline is given as wake words: they are never masked as a name."""


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
    known_names: tuple[str, ...] = ()


TextOf = Callable[[RedactedItem], str]


@dataclass(frozen=True)
class _FirstListen:
    samples: Samples
    rate: int
    transcript: Transcript
    seconds: float


def redact_item(
    models: PiiModels, entry: ManifestEntry, pad_s: float, known_names: Sequence[str] = ()
) -> RedactedItem:
    """The pipeline's transcribe → detect → mask → bleep, then an attacker's second
    listen: Whisper run on the bleeped audio, all of it (no voice-activity detection,
    whatever the pipeline's setting: a listener hears the silences too)."""
    return _redacted(models, entry, _first_listen(models, entry), pad_s, tuple(known_names))


def redact_with_and_without_names(
    models: PiiModels, entry: ManifestEntry, pad_s: float, known_names: Sequence[str]
) -> tuple[RedactedItem, RedactedItem]:
    """The clip redacted with its known names and without, from one first listen; the
    second listen is shared when both bleep the same spans."""
    heard = _first_listen(models, entry)
    with_names = _redacted(models, entry, heard, pad_s, tuple(known_names))
    if not known_names:
        return with_names, with_names
    return with_names, _redacted(models, entry, heard, pad_s, (), with_names)


def _first_listen(models: PiiModels, entry: ManifestEntry) -> _FirstListen:
    samples, rate = load_entry(entry)
    started = time.perf_counter()
    heard = models.transcriber.transcribe(samples, rate)
    transcript = Transcript.of([Word(w.text, w.start_s, w.end_s) for w in heard.words])
    return _FirstListen(samples, rate, transcript, time.perf_counter() - started)


def _redacted(
    models: PiiModels,
    entry: ManifestEntry,
    heard: _FirstListen,
    pad_s: float,
    known_names: tuple[str, ...],
    same_spans: RedactedItem | None = None,
) -> RedactedItem:
    """Detect, mask and bleep one transcript; ``same_spans``: an item of the same clip
    whose second listen can be reused when its spans are these."""
    started = time.perf_counter()
    transcript = heard.transcript
    findings = _detect(models, transcript.text, known_names)
    spans = tuple(audio_spans(transcript, findings))
    bleeped = bleep(heard.samples, heard.rate, list(spans), pad_s=pad_s)
    pipeline_seconds = heard.seconds + time.perf_counter() - started
    if same_spans is not None and same_spans.spans == spans:
        reheard = same_spans.reheard
        seconds = pipeline_seconds + same_spans.seconds - same_spans.pipeline_seconds
    else:
        reheard = models.transcriber.transcribe(bleeped, heard.rate, vad=False).text
        seconds = heard.seconds + time.perf_counter() - started
    reference = entry.text or ""
    reference_findings = _detect(models, reference, known_names)
    return RedactedItem(
        entry=entry,
        heard=transcript.text,
        findings=tuple(findings),
        masked=mask(transcript.text, findings),
        spans=spans,
        reheard=reheard,
        reference_findings=tuple(reference_findings),
        reference_masked=mask(reference, reference_findings),
        audio_seconds=len(heard.samples) / heard.rate,
        pipeline_seconds=pipeline_seconds,
        seconds=seconds,
        known_names=known_names,
    )


def _detect(models: PiiModels, text: str, known_names: tuple[str, ...]) -> list[Finding]:
    """As the pipeline's redact stage calls the detector."""
    return models.detector.detect(text, known_names=known_names, wake_words=models.wake_words)


def read_known_names(manifest: Path) -> dict[int, tuple[str, ...]]:
    """Each manifest line's ``known_names`` (the registered first name), by line number:
    the metadata the pipeline would have for that clip's account."""
    names = {}
    for number, line in enumerate(manifest.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"{manifest}:{number}"
        value = parse_json(line, where).get("known_names")
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            raise ManifestError(f"{where}: known_names must be a list of strings")
        names[number] = tuple(n for n in value if n.strip())
    return names


def evaluate_pii(
    entries: Sequence[ManifestEntry],
    models: PiiModels,
    pad_s: float,
    progress: Progress | None = None,
    known_names: Mapping[int, Sequence[str]] | None = None,
    name_free: Sequence[ManifestEntry] = (),
) -> dict[str, Any]:
    """The pipeline's figures (with each clip's known names), those without the names
    under ``without_known_names``, and the false masks the name match causes on the
    clips' transcripts and on ``name_free`` clips' reference texts."""
    names = known_names or {}
    with_names, without_names = [], []
    for entry in entries:
        both = redact_with_and_without_names(models, entry, pad_s, names.get(entry.line, ()))
        with_names.append(both[0])
        without_names.append(both[1])
        if progress is not None:
            progress()
    result = summarise_pii(with_names, models.transcriber.version)
    without = summarise_pii(
        without_names,
        models.transcriber.version,
        (TARGET_RECALL_WITHOUT_NAMES, TARGET_RESIDUE_WITHOUT_NAMES),
    )
    without.pop("items")
    result[WITHOUT_NAMES] = without
    registered = {_speaker(e): tuple(names[e.line]) for e in entries if names.get(e.line)}
    rules = models.detector.name_rules
    heard = [(_speaker(item.entry), item.entry.text or "", item.heard) for item in with_names]
    wake, everyday = models.wake_words, models.detector.everyday
    result["false_masks"] = {
        "rules": rules.__dict__,
        "transcripts": false_masks(heard, registered, rules, wake, everyday),
        "transcripts_exact_only": false_masks(heard, registered, EXACT_ONLY, wake, everyday),
    }
    if name_free:
        texts = [(_speaker(e), e.text or "", e.text or "") for e in name_free]
        result["false_masks"]["name_free_texts"] = false_masks(
            texts, registered, rules, wake, everyday
        )
        result["false_masks"]["name_free_texts_exact_only"] = false_masks(
            texts, registered, EXACT_ONLY, wake, everyday
        )
    return result


def _speaker(entry: ManifestEntry) -> str:
    return entry.speaker or entry.audio_filepath


def false_masks(
    utterances: Sequence[tuple[str, str, str]],
    registered: Mapping[str, Sequence[str]],
    rules: NameRules,
    wake_words: Sequence[str] = WAKE_WORDS,
    everyday: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """How often the known-name match masks a word of an utterance that does not hold
    the name: each ``(speaker, reference, text)`` paired with every other speaker's
    registered names that its reference does not contain. ``pair_rate``: the share of
    pairs where anything is masked; ``word_rate``: the share of the pairs' words."""
    pairs = masked_pairs = words = masked_words = 0
    examples: list[dict[str, str]] = []
    for speaker, reference, text in utterances:
        said = {letters(word) for word in reference.split()}
        count = len(heard_words(text))
        for other, names in sorted(registered.items()):
            absent = [name for name in names if letters(name) not in said]
            if other == speaker or not absent:
                continue
            recognizer = KnownNameRecognizer(absent, rules, wake_words, everyday)
            spans = list(recognizer.spans(text))
            pairs += 1
            words += count
            masked_words += sum(len(text[s:e].split()) for s, e, _ in spans)
            masked_pairs += bool(spans)
            if spans and len(examples) < 20:
                hidden = ", ".join(text[s:e] for s, e, _ in spans)
                examples.append({"name": ", ".join(absent), "text": text, "masked": hidden})
    return {
        "pairs": pairs,
        "pair_rate": fraction(masked_pairs, pairs),
        "words": words,
        "word_rate": fraction(masked_words, words),
        "examples": examples,
    }


def speaker_intervals(
    items: Sequence[RedactedItem], text_of: TextOf, seed: int = INTERVAL_SEED
) -> dict[str, list[float] | None]:
    """95 % intervals of each type's leak rate over speakers: a speaker's clips are
    drawn together (see :mod:`earmuff.evaluate.intervals`)."""
    speakers = [_speaker(item.entry) for item in items]
    if not speakers:
        return {}
    resample = resample_speakers([speakers], REPLICATES, np.random.default_rng(seed))
    counts = resample.of(speakers)
    intervals = {}
    for kind in _kinds({OVERALL: 1, **{p.type: 1 for i in items for p in i.entry.pii}}):
        holds = np.array([any(kind in (OVERALL, p.type) for p in i.entry.pii) for i in items])
        leaked = np.array(
            [
                any(kind in (OVERALL, p.type) and leaks(p, text_of(i)) for p in i.entry.pii)
                for i in items
            ]
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = (counts @ leaked.astype(float)) / (counts @ holds.astype(float))
        intervals[kind] = percentile_interval(rates)
    return intervals


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
        "speaker": item.entry.speaker,
        "known_names": list(item.known_names),
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


def summarise_pii(
    items: Sequence[RedactedItem],
    model: str,
    targets: tuple[dict[str, float], dict[str, float]] = (TARGET_RECALL, TARGET_RESIDUE),
) -> dict[str, Any]:
    """Every figure of one way of redacting the clips; ``targets``: recall and residue."""
    target_recall, target_residue = targets
    audio = sum(item.audio_seconds for item in items)
    recall = recall_from(leak_rates(items, lambda i: i.masked))
    residue = leak_rates(items, lambda i: i.reheard)
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        for kind in {p.type for p in item.entry.pii}:
            counts[kind] += 1
    missed = speaker_intervals(items, lambda i: i.masked)
    return {
        "model": model,
        "n": len(items),
        "n_by_type": dict(sorted(counts.items())),
        "n_speakers": len({_speaker(item.entry) for item in items}),
        "recall": recall,
        "residue_rate": residue,
        "intervals": {
            "recall": {
                kind: None if bounds is None else [round(1 - bounds[1], 6), round(1 - bounds[0], 6)]
                for kind, bounds in missed.items()
            },
            "residue_rate": speaker_intervals(items, lambda i: i.reheard),
        },
        "reference_recall": recall_from(leak_rates(items, lambda i: i.reference_masked)),
        "asr_reveal_rate": leak_rates(items, lambda i: i.heard),
        "unbleeped_rate": unbleeped_rates(items),
        "audio_seconds": round(audio, 3),
        "rtf": real_time_factor(sum(item.pipeline_seconds for item in items), audio),
        "rtf_with_residue_check": real_time_factor(sum(item.seconds for item in items), audio),
        "targets": {"recall": target_recall, "residue_rate": target_residue},
        "meets_targets": {
            "recall": target_check(recall, target_recall, at_least=True),
            "residue_rate": target_check(residue, target_residue, at_least=False),
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
    lines += _type_lines(result)
    without = result.get(WITHOUT_NAMES)
    if without is not None:
        lines.append("without the known names:")
        lines += _type_lines(without)
    for where, counted in result.get("false_masks", {}).items():
        if isinstance(counted, dict) and "pair_rate" in counted:
            lines.append(
                f"  false masks of a name on {where}: {percent(counted['pair_rate'])} of "
                f"{counted['pairs']} utterance-name pairs, {percent(counted['word_rate'])} "
                "of their words"
            )
    return lines


def _type_lines(result: dict[str, Any]) -> list[str]:
    targets = result["targets"]
    lines = []
    for kind in result["recall"]:
        recall, residue = result["recall"][kind], result["residue_rate"][kind]
        intervals = result.get("intervals", {})
        lines.append(
            f"  {kind}: recall {percent(recall)}{_interval(intervals, 'recall', kind)}"
            f"{_target(targets['recall'], kind, '>=')}, "
            f"residue {percent(residue)}{_interval(intervals, 'residue_rate', kind)}"
            f"{_target(targets['residue_rate'], kind, '<=')}, "
            f"recall on reference text {percent(result['reference_recall'][kind])}, "
            f"nothing bleeped {percent(result['unbleeped_rate'][kind])}, "
            f"n={result['n_by_type'].get(kind, result['n'])}"
        )
    return lines


def _interval(intervals: dict[str, Any], figure: str, kind: str) -> str:
    bounds = intervals.get(figure, {}).get(kind)
    return "" if bounds is None else f" [{percent(bounds[0])}, {percent(bounds[1])}]"


def _target(targets: dict[str, float], kind: str, sign: str) -> str:
    return f" (target {sign} {percent(targets[kind])})" if kind in targets else ""
