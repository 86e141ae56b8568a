"""How often voiced audio carries no word in the draft transcript, how often that holds
PII, and what the second listen and the bleep of what is left do about it.

Four sets are measured, all read in place from the corpus:

- ``alexa+name`` and ``alexa+digits``: each PII clip of ``pii.jsonl`` joined after an
  "Alexa" clip of the corpus's alexa folder, as ``earmuff demo`` joins them
  (:func:`earmuff.cli.samples.join_recordings`: 16 kHz, 0.2 s of silence after each);
  the PII is everything after the wake word and its pause.
- ``pii``: the same PII clips alone; every voiced stretch of them is PII.
- ``no_pii``: ``speakers.jsonl`` clips that are not in ``pii.jsonl`` and are not a
  caller's name prompt (``_000``): what a bleep costs speech that holds no PII.

Each clip goes through the pipeline's redaction twice: as it was (draft transcript,
PII found, PII words bleeped) and with the untranscribed speech accounted for
(:func:`earmuff.pipeline.untranscribed.account_for_speech`: PII found in the words of
the second listen, and every span the draft left without a word bleeped, as the
pipeline does; and, for comparison, bleeping only what the second listen too left
without a word); after each, Whisper hears
the whole bleeped clip again, and a PII item whose words (or four of whose digits) it
hears is audible. The PII stage is asked without the registered first name, as the
demo's recording reaches it (the caller is not the household's owner): the harder case.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from earmuff.audio.bleep import bleep
from earmuff.evaluate.manifest import ManifestEntry, load_entry, read_manifest
from earmuff.evaluate.pii import leaks
from earmuff.pii import PiiDetector, Transcript, Word, audio_spans
from earmuff.pii.detector import WAKE_WORDS
from earmuff.pipeline.untranscribed import account_for_speech, widen
from earmuff.speech.asr import WHISPER_RATE, TimedWord, Transcriber, to_16k
from earmuff.speech.coverage import CoverageRules, Span

PAUSE = np.zeros(3200, dtype=np.float32)
"""The demo's 0.2 s between the wake word and the request."""
SETS = ("alexa+name", "alexa+digits", "pii", "no_pii")


@dataclass(frozen=True)
class Clip:
    name: str
    set: str
    samples: np.ndarray
    pii: tuple[Any, ...]
    """The manifest's PII items (type, text)."""
    pii_span: Span | None
    """Where the PII was spoken; ``None`` for a clip without PII."""


@dataclass(frozen=True)
class ClipResult:
    clip: Clip
    draft: str
    speech_s: float
    unheard: tuple[Span, ...]
    unheard_with_pii: int
    recovered: int
    unaccounted: tuple[Span, ...]
    spans_before: int
    spans_after: int
    audible_before: bool | None
    audible_after: bool | None
    audible_leftovers_only: bool | None
    """The alternative: only what the second listen left without a word bleeped."""
    spans_leftovers_only: int
    heard: str
    draft_seconds: float
    extra_seconds: float


def _alexa_clips(root: Path) -> list[Path]:
    return sorted((root / "alexa").glob("*.flac"))


def _at_16k(entry_or_path: ManifestEntry | Path) -> np.ndarray:
    from earmuff.evaluate.manifest import load_audio

    if isinstance(entry_or_path, Path):
        samples, rate = load_audio(entry_or_path)
    else:
        samples, rate = load_entry(entry_or_path)
    return to_16k(samples, rate)


def build_clips(
    pii_manifest: Path,
    speakers_manifest: Path,
    root: Path,
    limit: int | None = None,
    no_pii_limit: int | None = None,
) -> list[Clip]:
    """The four sets; ``limit`` PII clips of each kind, ``no_pii_limit`` speaker clips
    spread evenly over the manifest (it lists telephone callers first, readers last)."""
    entries = read_manifest(pii_manifest, root, ("text", "pii"))
    alexa = _alexa_clips(root)
    clips: list[Clip] = []
    counts: dict[str, int] = {}
    for index, entry in enumerate(entries):
        kind = "alexa+name" if entry.pii[0].type == "PERSON" else "alexa+digits"
        if limit is not None and counts.get(kind, 0) >= limit:
            continue
        counts[kind] = counts.get(kind, 0) + 1
        spoken = _at_16k(entry)
        wake = _at_16k(alexa[index % len(alexa)])
        joined = np.concatenate([wake, PAUSE, spoken, PAUSE])
        start = (len(wake) + len(PAUSE)) / WHISPER_RATE
        whole = len(spoken) / WHISPER_RATE
        clips.append(Clip(entry.name, kind, joined, entry.pii, (start, start + whole)))
        clips.append(Clip(entry.name, "pii", spoken, entry.pii, (0.0, whole)))
    with_pii = {entry.audio_filepath for entry in entries}
    others = [
        entry
        for entry in read_manifest(speakers_manifest, root)
        if entry.audio_filepath not in with_pii and not entry.audio_filepath.endswith("_000.ulaw")
    ]
    step = max(1, len(others) // no_pii_limit) if no_pii_limit else 1
    for entry in others[::step][:no_pii_limit]:
        clips.append(Clip(entry.name, "no_pii", _at_16k(entry), (), None))
    return clips


def _overlaps(span: Span, other: Span | None) -> bool:
    return other is not None and span[0] < other[1] and other[0] < span[1]


def _redacted_spans(
    detector: PiiDetector, words: Sequence[TimedWord], known_names: Sequence[str]
) -> list[Span]:
    transcript = Transcript.of([Word(w.text, w.start_s, w.end_s) for w in words])
    findings = detector.detect(transcript.text, known_names=known_names, wake_words=WAKE_WORDS)
    return [(float(s), float(e)) for s, e in audio_spans(transcript, findings)]


def _audible(
    transcriber: Transcriber, clip: Clip, spans: Sequence[Span], pad_s: float
) -> bool | None:
    if not clip.pii:
        return None
    bleeped = bleep(clip.samples, WHISPER_RATE, spans, pad_s=pad_s)
    heard = transcriber.transcribe(bleeped, WHISPER_RATE, vad=False).text
    return any(leaks(item, heard) for item in clip.pii)


def measure_clip(
    transcriber: Transcriber,
    detector: PiiDetector,
    clip: Clip,
    pad_s: float,
    rules: CoverageRules = CoverageRules(),
    listen_again: bool = True,
) -> ClipResult:
    """One clip redacted as the pipeline did and as it does now, each heard again."""
    started = time.perf_counter()
    draft = transcriber.transcribe(clip.samples, WHISPER_RATE)
    drafted = time.perf_counter()
    before = _redacted_spans(detector, draft.words, ())
    middle = time.perf_counter()
    accounting = account_for_speech(transcriber, clip.samples, WHISPER_RATE, draft.words, rules)
    found = widen(_redacted_spans(detector, accounting.words, ()), accounting.unheard)
    after = [*found, *accounting.unheard]
    extra = time.perf_counter() - middle
    leftovers = [*found, *accounting.unaccounted]
    audible_after = _audible(transcriber, clip, after, pad_s) if listen_again else None
    if not listen_again:
        audible_leftovers = None
    elif set(after) == set(leftovers):
        audible_leftovers = audible_after
    else:
        audible_leftovers = _audible(transcriber, clip, leftovers, pad_s)
    return ClipResult(
        clip=clip,
        draft=draft.text,
        speech_s=sum(end - start for start, end in accounting.speech),
        unheard=accounting.unheard,
        unheard_with_pii=sum(_overlaps(span, clip.pii_span) for span in accounting.unheard),
        recovered=accounting.recovered,
        unaccounted=accounting.unaccounted,
        spans_before=len(before),
        spans_after=len(after),
        audible_before=_audible(transcriber, clip, before, pad_s) if listen_again else None,
        audible_after=audible_after,
        audible_leftovers_only=audible_leftovers,
        spans_leftovers_only=len(leftovers),
        heard=" ".join(w.text.strip() for w in accounting.words),
        draft_seconds=drafted - started,
        extra_seconds=extra,
    )


def evaluate_untranscribed(
    clips: Sequence[Clip],
    transcriber: Transcriber,
    detector: PiiDetector,
    pad_s: float,
    advance: Callable[[], None] = lambda: None,
    rules: CoverageRules = CoverageRules(),
) -> dict[str, Any]:
    results = []
    for clip in clips:
        results.append(measure_clip(transcriber, detector, clip, pad_s, rules))
        advance()
    return summarise(results)


def summarise(results: Sequence[ClipResult]) -> dict[str, Any]:
    sets: dict[str, Any] = {}
    for name in SETS:
        chosen = [r for r in results if r.clip.set == name]
        if not chosen:
            continue
        audio = sum(len(r.clip.samples) for r in chosen) / WHISPER_RATE
        with_pii = [r for r in chosen if r.clip.pii]
        sets[name] = {
            "clips": len(chosen),
            "audio_s": round(audio, 1),
            "speech_s": round(sum(r.speech_s for r in chosen), 1),
            "clips_with_unheard_speech": sum(bool(r.unheard) for r in chosen),
            "unheard_spans": sum(len(r.unheard) for r in chosen),
            "unheard_s": round(sum(e - s for r in chosen for s, e in r.unheard), 2),
            "unheard_spans_with_pii": sum(r.unheard_with_pii for r in chosen),
            "words_recovered": sum(r.recovered for r in chosen),
            "clips_with_unaccounted_speech": sum(bool(r.unaccounted) for r in chosen),
            "unaccounted_spans": sum(len(r.unaccounted) for r in chosen),
            "unaccounted_s": round(sum(e - s for r in chosen for s, e in r.unaccounted), 2),
            "clips_gaining_bleeps": sum(r.spans_after > r.spans_before for r in chosen),
            "audible_before": sum(bool(r.audible_before) for r in with_pii),
            "audible_after": sum(bool(r.audible_after) for r in with_pii),
            "clips_gaining_bleeps_if_leftovers_only": sum(
                r.spans_leftovers_only > r.spans_before for r in chosen
            ),
            "audible_if_leftovers_only": sum(bool(r.audible_leftovers_only) for r in with_pii),
            "draft_s_per_clip": round(sum(r.draft_seconds for r in chosen) / len(chosen), 3),
            "extra_s_per_clip": round(sum(r.extra_seconds for r in chosen) / len(chosen), 3),
        }
    return {
        "sets": sets,
        "clips": [
            {
                "set": r.clip.set,
                "clip": r.clip.name,
                "draft": r.draft,
                "heard": r.heard,
                "unheard": [[round(s, 2), round(e, 2)] for s, e in r.unheard],
                "unaccounted": [[round(s, 2), round(e, 2)] for s, e in r.unaccounted],
                "recovered": r.recovered,
                "audible_before": r.audible_before,
                "audible_after": r.audible_after,
                "audible_if_leftovers_only": r.audible_leftovers_only,
            }
            for r in results
        ],
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = []
    for name, figures in result["sets"].items():
        lines.append(
            f"{name}: {figures['clips']} clips, {figures['clips_with_unheard_speech']} with voiced "
            f"audio the draft has no word for ({figures['unheard_spans']} spans, "
            f"{figures['unheard_s']} s, {figures['unheard_spans_with_pii']} holding PII); "
            f"second listen added {figures['words_recovered']} words; still unaccounted "
            f"{figures['unaccounted_spans']} spans in {figures['clips_with_unaccounted_speech']} "
            f"clips; clips gaining bleeps {figures['clips_gaining_bleeps']}; PII audible "
            f"{figures['audible_before']} before, {figures['audible_after']} after "
            f"({figures['audible_if_leftovers_only']} if only what the second listen left "
            "wordless were bleeped); "
            f"{figures['draft_s_per_clip']} s draft + {figures['extra_s_per_clip']} s per clip"
        )
    return lines


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)
