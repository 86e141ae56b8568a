"""The audio watermark measured on real speech: is the reviewer found from a leaked copy,
is unmarked audio left alone, and does the mark cost the listener anything?

For every clip at least :data:`MIN_SECONDS` long a random payload is marked in, the
marked audio goes through each leak of :mod:`earmuff.evaluate.leaks`, and the detector
must return exactly that payload, from the whole copy and from a 3 s excerpt cut at a
random offset. False positives are counted on the unmarked clips (whole and excerpt) and
on the marked clips read under another key. The mark's cost is its power below the
speech (SNR) and the change in Whisper's word error rate between unmarked and marked
audio, pooled over the clips that have a transcript.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from earmuff.audio.watermark import PAYLOAD_BITS, embed, identify, mark_snr_db
from earmuff.evaluate import leaks
from earmuff.evaluate.manifest import ManifestEntry, load_entry
from earmuff.evaluate.report import Progress, fraction, percent, real_time_factor
from earmuff.speech.asr import Transcriber
from earmuff.speech.text import EditCounts, align, normalise, word_error_rate

MIN_SECONDS = 3.0
EXCERPT_SECONDS = 3.0

Samples = leaks.Samples
Leak = Callable[[Samples, int, np.random.Generator], Samples]


def _mp3(samples: Samples, rate: int, rng: np.random.Generator) -> Samples:
    return leaks.mp3(samples, rate)[0]


def _ogg(samples: Samples, rate: int, rng: np.random.Generator) -> Samples:
    return leaks.ogg_vorbis(samples, rate)[0]


def _phone_white(samples: Samples, rate: int, rng: np.random.Generator) -> Samples:
    return leaks.phone(samples, rate, rng, "white")


def _phone_pink(samples: Samples, rate: int, rng: np.random.Generator) -> Samples:
    return leaks.phone(samples, rate, rng, "pink")


LEAKS: dict[str, Leak] = {
    "clean": lambda samples, rate, rng: samples,
    "mp3_64k": _mp3,
    "ogg_64k": _ogg,
    "phone_8k_white_20db": _phone_white,
    "phone_8k_pink_20db": _phone_pink,
}


@dataclass
class Tally:
    n: int = 0
    identified: int = 0
    wrong_payload: int = 0

    def count(self, found: bytes | None, expected: bytes) -> None:
        self.n += 1
        self.identified += found == expected
        self.wrong_payload += found is not None and found != expected

    def record(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "identified": self.identified,
            "accuracy": fraction(self.identified, self.n),
            "wrong_payload": self.wrong_payload,
        }


@dataclass
class Measurements:
    conditions: dict[str, Tally] = field(
        default_factory=lambda: {
            f"{name}{suffix}": Tally() for name in LEAKS for suffix in ("", "_excerpt_3s")
        }
    )
    false_positives: dict[str, int] = field(
        default_factory=lambda: {"unmarked": 0, "unmarked_excerpt_3s": 0, "other_key": 0}
    )
    snr_db: list[float] = field(default_factory=list)
    embed_seconds: float = 0.0
    identify_seconds: list[float] = field(default_factory=list)
    audio_seconds: float = 0.0
    unmarked_edits: EditCounts = field(default_factory=EditCounts)
    marked_edits: EditCounts = field(default_factory=EditCounts)
    reference_words: int = 0
    transcribed: int = 0
    too_short: int = 0


def evaluation_key(seed: int) -> bytes:
    """A fixed key per seed, so a run can be repeated exactly."""
    return hashlib.sha256(f"earmuff watermark evaluation {seed}".encode()).digest()


def evaluate_watermark(
    entries: Sequence[ManifestEntry],
    transcriber: Transcriber | None,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    key, other_key = evaluation_key(seed), evaluation_key(seed + 1)
    measured = Measurements()
    for index, entry in enumerate(entries):
        rng = np.random.default_rng([seed, index])
        samples, rate = load_entry(entry)
        if len(samples) < MIN_SECONDS * rate:
            measured.too_short += 1
        else:
            _measure_clip(measured, entry, samples, rate, key, other_key, rng, transcriber)
        if progress is not None:
            progress()
    return summarise(measured, transcriber.version if transcriber else None)


def _measure_clip(
    measured: Measurements,
    entry: ManifestEntry,
    samples: Samples,
    rate: int,
    key: bytes,
    other_key: bytes,
    rng: np.random.Generator,
    transcriber: Transcriber | None,
) -> None:
    payload = rng.bytes(PAYLOAD_BITS // 8)
    started = time.perf_counter()
    marked = embed(samples, rate, payload, key)
    measured.embed_seconds += time.perf_counter() - started
    measured.audio_seconds += len(samples) / rate
    measured.snr_db.append(mark_snr_db(samples, marked))

    def read(audio: Samples, under: bytes = key) -> bytes | None:
        started = time.perf_counter()
        found = identify(audio, rate, under)
        measured.identify_seconds.append(time.perf_counter() - started)
        return None if found is None else found.payload

    for name, leak in LEAKS.items():
        copy = leak(marked, rate, rng)
        measured.conditions[name].count(read(copy), payload)
        cut = leaks.excerpt(copy, rate, EXCERPT_SECONDS, rng)
        measured.conditions[f"{name}_excerpt_3s"].count(read(cut), payload)
    positives = measured.false_positives
    positives["unmarked"] += read(samples) is not None
    positives["unmarked_excerpt_3s"] += (
        read(leaks.excerpt(samples, rate, EXCERPT_SECONDS, rng)) is not None
    )
    positives["other_key"] += read(marked, other_key) is not None
    if transcriber is not None and entry.text and entry.text.strip():
        reference = normalise(entry.text)
        before = normalise(transcriber.transcribe(samples, rate).text)
        after = normalise(transcriber.transcribe(marked, rate).text)
        measured.unmarked_edits += align(reference, before)
        measured.marked_edits += align(reference, after)
        measured.reference_words += len(reference)
        measured.transcribed += 1


def summarise(measured: Measurements, asr_model: str | None) -> dict[str, Any]:
    snr = np.array(measured.snr_db)
    clips = len(measured.snr_db)
    unmarked_wer = word_error_rate(measured.unmarked_edits.errors, measured.reference_words)
    marked_wer = word_error_rate(measured.marked_edits.errors, measured.reference_words)
    return {
        "payload_bits": PAYLOAD_BITS,
        "clips": clips,
        "too_short": measured.too_short,
        "conditions": {name: tally.record() for name, tally in measured.conditions.items()},
        "false_positives": {
            **measured.false_positives,
            "trials": 3 * clips,
            "rate": fraction(sum(measured.false_positives.values()), 3 * clips),
        },
        "mark_snr_db": {
            "mean": round(float(snr.mean()), 2) if clips else None,
            "median": round(float(np.median(snr)), 2) if clips else None,
            "min": round(float(snr.min()), 2) if clips else None,
        },
        "embed_rtf": real_time_factor(measured.embed_seconds, measured.audio_seconds),
        "identify_seconds_mean": round(float(np.mean(measured.identify_seconds)), 4)
        if measured.identify_seconds
        else None,
        "wer": {
            "model": asr_model,
            "clips": measured.transcribed,
            "reference_words": measured.reference_words,
            "unmarked": unmarked_wer,
            "marked": marked_wer,
            "change": None
            if unmarked_wer is None or marked_wer is None
            else marked_wer - unmarked_wer,
        },
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{result['clips']} clips of at least {MIN_SECONDS:g} s "
        f"({result['too_short']} shorter skipped), {result['payload_bits']}-bit payload",
    ]
    for name, figures in result["conditions"].items():
        lines.append(
            f"  {name:32s} identified {percent(figures['accuracy']):>8s} "
            f"({figures['identified']}/{figures['n']}), wrong payload {figures['wrong_payload']}"
        )
    positives = result["false_positives"]
    lines.append(
        f"false positives {positives['unmarked']} unmarked, "
        f"{positives['unmarked_excerpt_3s']} unmarked excerpts, "
        f"{positives['other_key']} under another key, of {positives['trials']} trials"
    )
    snr = result["mark_snr_db"]
    lines.append(
        f"mark SNR {snr['mean']} dB mean, {snr['min']} dB min; embed RTF {result['embed_rtf']}; "
        f"identify {result['identify_seconds_mean']} s per copy"
    )
    wer = result["wer"]
    if wer["clips"]:
        lines.append(
            f"WER {percent(wer['unmarked'])} unmarked, {percent(wer['marked'])} marked "
            f"over {wer['clips']} clips ({wer['reference_words']} words)"
        )
    return lines
