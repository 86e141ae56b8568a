"""Speech recognition measured: word error rate of a Whisper model against human
transcripts, and how fast it runs.

The WER is pooled (all word errors over all reference words), not an average of
per-clip rates, so a two-word clip does not weigh as much as a fifty-word one.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from earmuff.evaluate.manifest import ManifestEntry, load_entry
from earmuff.evaluate.report import Progress, percent, real_time_factor
from earmuff.speech.asr import Transcriber
from earmuff.speech.text import EditCounts, align, normalise, word_error_rate

WORST_SHOWN = 20
EVALUATION_SEED = 0
"""The seed of Whisper's sampler in every measurement (see :class:`Transcriber`)."""


def evaluation_transcriber(model: str, threads: int = 2, vad: bool = False) -> Transcriber:
    """The Whisper model every ``earmuff eval`` task transcribes with: its temperature
    fallback seeded, so that running a measurement again gives the same figures.

    ``vad`` as the pipeline sets it where a task measures the pipeline's own hearing
    (asr, pii); the anonymization task leaves it off, since it measures what the
    anonymized audio still says, and Silero judges some of that audio not to be speech
    at all."""
    return Transcriber(model, cpu_threads=threads, sampling_seed=EVALUATION_SEED, vad=vad)


@dataclass(frozen=True)
class AsrItem:
    entry: ManifestEntry
    hypothesis: str
    reference_words: tuple[str, ...]
    hypothesis_words: tuple[str, ...]
    edits: EditCounts
    audio_seconds: float
    seconds: float


def transcribe_item(transcriber: Transcriber, entry: ManifestEntry) -> AsrItem:
    samples, rate = load_entry(entry)
    started = time.perf_counter()
    heard = transcriber.transcribe(samples, rate)
    seconds = time.perf_counter() - started
    reference, hypothesis = normalise(entry.text or ""), normalise(heard.text)
    return AsrItem(
        entry=entry,
        hypothesis=heard.text,
        reference_words=tuple(reference),
        hypothesis_words=tuple(hypothesis),
        edits=align(reference, hypothesis),
        audio_seconds=len(samples) / rate,
        seconds=seconds,
    )


def evaluate_asr(
    entries: Sequence[ManifestEntry], transcriber: Transcriber, progress: Progress | None = None
) -> dict[str, Any]:
    items = []
    for entry in entries:
        items.append(transcribe_item(transcriber, entry))
        if progress is not None:
            progress()
    return summarise_asr(items, transcriber.version)


def pooled(items: Sequence[AsrItem]) -> dict[str, Any]:
    edits = sum((item.edits for item in items), EditCounts())
    words = sum(len(item.reference_words) for item in items)
    return {
        "n": len(items),
        "wer": word_error_rate(edits.errors, words),
        "reference_words": words,
        "substitutions": edits.substitutions,
        "deletions": edits.deletions,
        "insertions": edits.insertions,
    }


def item_record(item: AsrItem) -> dict[str, Any]:
    return {
        "file": item.entry.name,
        "source": item.entry.source,
        "reference": item.entry.text,
        "hypothesis": item.hypothesis,
        "reference_normalised": " ".join(item.reference_words),
        "hypothesis_normalised": " ".join(item.hypothesis_words),
        "errors": item.edits.errors,
        "wer": word_error_rate(item.edits.errors, len(item.reference_words)),
    }


def summarise_asr(items: Sequence[AsrItem], model: str) -> dict[str, Any]:
    groups: dict[str, list[AsrItem]] = defaultdict(list)
    for item in items:
        groups[item.entry.source or "unknown"].append(item)
    audio = sum(item.audio_seconds for item in items)
    worst = sorted(items, key=lambda item: item.edits.errors, reverse=True)[:WORST_SHOWN]
    return {
        "model": model,
        **pooled(items),
        "audio_seconds": round(audio, 3),
        "rtf": real_time_factor(sum(item.seconds for item in items), audio),
        "by_source": {source: pooled(members) for source, members in sorted(groups.items())},
        "worst": [item_record(item) for item in worst],
        "items": [item_record(item) for item in items],
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{result['model']}: {result['n']} clips, {result['reference_words']} reference words",
        f"WER {percent(result['wer'])} (substitutions {result['substitutions']}, "
        f"deletions {result['deletions']}, insertions {result['insertions']}), "
        f"RTF {result['rtf']:.3f}",
    ]
    if len(result["by_source"]) > 1:
        lines.extend(
            f"  {source}: WER {percent(figures['wer'])} over {figures['n']} clips"
            for source, figures in result["by_source"].items()
        )
    return lines
