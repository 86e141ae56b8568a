"""Wake-word verification measured: how many real "alexa" clips are missed, how many
other clips (other wake words, sentences, commands, digits) are let through.

The fused verifier is run exactly as the pipeline runs it. Each detector's own score is
kept for every clip as well (the transcript check is run separately where the fusion
short-circuited it), so the same pass also reports each detector alone and other
fusion rules: the shipped choice is justified against its alternatives, not assumed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from earmuff.evaluate.manifest import ManifestEntry, load_entry
from earmuff.evaluate.report import Progress, fraction, percent, real_time_factor
from earmuff.speech.wake import WakeDetector, WakeScore, WakeVerifier

WAKE_WORD = "alexa"
TARGET_MISS_RATE = 0.01
TARGET_FALSE_ACCEPT_RATE = 0.005
SWEEP = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99)
TIER_HIGH = (0.5, 0.7, 0.9, 0.95, 0.99)
TIER_LOW = (0.01, 0.05, 0.1, 0.2, 0.3)


class TimedDetector:
    """A detector that remembers how long its last score took, so the fused run's time
    can be split per detector without running anything twice."""

    def __init__(self, inner: WakeDetector) -> None:
        self.inner = inner
        self.name = inner.name
        self.last_seconds = 0.0

    def supports(self, wake_word: str) -> bool:
        return self.inner.supports(wake_word)

    def score(self, samples: np.ndarray, sample_rate: int, wake_word: str) -> WakeScore:
        started = time.perf_counter()
        try:
            return self.inner.score(samples, sample_rate, wake_word)
        finally:
            self.last_seconds = time.perf_counter() - started


@dataclass(frozen=True)
class WakeModels:
    verifier: WakeVerifier
    acoustic: TimedDetector
    transcript: TimedDetector


def load_wake_models(
    strong: float, weak: float, asr_model: str = "tiny.en", threads: int = 2
) -> WakeModels:
    """The pipeline's verifier, plus the plain transcript check scored on every clip so
    that each detector can also be judged alone."""
    from earmuff.evaluate.asr import evaluation_transcriber
    from earmuff.speech.wake import OpenWakeWordDetector, TranscriptWakeCheck

    transcriber = evaluation_transcriber(asr_model, threads)
    acoustic = TimedDetector(OpenWakeWordDetector())
    transcript = TimedDetector(TranscriptWakeCheck(transcriber))
    return WakeModels(WakeVerifier(acoustic, transcriber, strong, weak), acoustic, transcript)


@dataclass(frozen=True)
class WakeClip:
    """One clip's verdict and every detector's score and time."""

    entry: ManifestEntry
    audio_seconds: float
    fused: bool
    fused_seconds: float
    acoustic_score: float
    acoustic_seconds: float
    transcript_match: bool
    transcript_seconds: float
    heard: str

    @property
    def is_wake(self) -> bool:
        return self.entry.label == "wake"


def score_clip(models: WakeModels, entry: ManifestEntry) -> WakeClip:
    """The verdict as the pipeline reaches it; the transcript check is run on its own
    only where the fusion stopped before asking it."""
    samples, rate = load_entry(entry)
    started = time.perf_counter()
    verdict = models.verifier.verify(samples, rate, WAKE_WORD)
    fused_seconds = time.perf_counter() - started
    scores = {score.detector: score for score in verdict.scores}
    acoustic_seconds = models.acoustic.last_seconds
    transcript = scores.get(models.transcript.name)
    if transcript is None:
        transcript = models.transcript.score(samples, rate, WAKE_WORD)
    return WakeClip(
        entry=entry,
        audio_seconds=len(samples) / rate,
        fused=verdict.is_wake,
        fused_seconds=fused_seconds,
        acoustic_score=scores[models.acoustic.name].score,
        acoustic_seconds=acoustic_seconds,
        transcript_match=transcript.score >= 0.5,
        transcript_seconds=models.transcript.last_seconds,
        heard=transcript.evidence,
    )


Rule = Callable[[WakeClip], bool]


def candidate_rules(threshold: float) -> list[tuple[str, Rule]]:
    """Each detector alone and the ways of combining them, all decided from the scores
    already measured: no rule needs the models run again."""
    rules: list[tuple[str, Rule]] = [
        ("as shipped (two levels, see options)", lambda c: c.fused),
        ("transcript alone", lambda c: c.transcript_match),
    ]
    rules.extend((f"openwakeword >= {t}", _acoustic_at(t)) for t in SWEEP)
    rules.extend((f"openwakeword >= {t} or transcript", _either_at(t)) for t in SWEEP)
    rules.extend((f"openwakeword >= {t} and transcript", _both_at(t)) for t in SWEEP)
    rules.extend(
        (f"openwakeword >= {high} or (openwakeword >= {low} and transcript)", _tiered(high, low))
        for high in TIER_HIGH
        for low in TIER_LOW
        if low < high
    )
    return rules


def _acoustic_at(threshold: float) -> Rule:
    return lambda clip: clip.acoustic_score >= threshold


def _either_at(threshold: float) -> Rule:
    """The shipped fusion at another threshold (the transcript check scores 0 or 1)."""
    return lambda clip: clip.acoustic_score >= threshold or clip.transcript_match


def _both_at(threshold: float) -> Rule:
    """Both must agree: fewer false accepts, more misses."""
    return lambda clip: clip.acoustic_score >= threshold and clip.transcript_match


def _tiered(high: float, low: float) -> Rule:
    """A confident acoustic score alone, or a weaker one that the transcript confirms."""
    both = _both_at(low)
    return lambda clip: clip.acoustic_score >= high or both(clip)


def error_rates(clips: Sequence[WakeClip], accept: Rule) -> dict[str, Any]:
    wake = [c for c in clips if c.is_wake]
    other = [c for c in clips if not c.is_wake]
    missed = sum(not accept(c) for c in wake)
    false_accepts = sum(accept(c) for c in other)
    miss_rate, fa_rate = fraction(missed, len(wake)), fraction(false_accepts, len(other))
    return {
        "miss_rate": miss_rate,
        "false_accept_rate": fa_rate,
        "n_missed": missed,
        "n_false_accepts": false_accepts,
        "meets_targets": meets_targets(miss_rate, fa_rate),
    }


def meets_targets(miss_rate: float | None, false_accept_rate: float | None) -> bool:
    return (miss_rate or 0.0) <= TARGET_MISS_RATE and (
        false_accept_rate or 0.0
    ) <= TARGET_FALSE_ACCEPT_RATE


def by_source(clips: Iterable[WakeClip], threshold: float) -> dict[str, dict[str, Any]]:
    """Which kind of audio fails: per source, how often each detector and the fusion
    said "wake"."""
    groups: dict[str, list[WakeClip]] = defaultdict(list)
    for clip in clips:
        groups[clip.entry.source or "unknown"].append(clip)
    breakdown = {}
    for source, members in sorted(groups.items()):
        labels = sorted({c.entry.label or "" for c in members})
        breakdown[source] = {
            "labels": labels,
            "n": len(members),
            "accepted_fused": sum(c.fused for c in members),
            "accepted_openwakeword": sum(c.acoustic_score >= threshold for c in members),
            "accepted_transcript": sum(c.transcript_match for c in members),
            "accept_rate_fused": fraction(sum(c.fused for c in members), len(members)),
        }
    return breakdown


def clip_record(clip: WakeClip) -> dict[str, Any]:
    return {
        "file": clip.entry.name,
        "source": clip.entry.source,
        "label": clip.entry.label,
        "fused": clip.fused,
        "openwakeword": round(clip.acoustic_score, 6),
        "transcript": clip.transcript_match,
        "heard": clip.heard,
    }


def evaluate_wake(
    entries: Sequence[ManifestEntry],
    models: WakeModels,
    progress: Progress | None = None,
    threshold: float = 0.5,
) -> dict[str, Any]:
    """Score every clip once, then derive every figure from those scores."""
    clips = []
    for entry in entries:
        clips.append(score_clip(models, entry))
        if progress is not None:
            progress()
    return summarise_wake(clips, threshold)


def summarise_wake(clips: Sequence[WakeClip], threshold: float) -> dict[str, Any]:
    audio = sum(c.audio_seconds for c in clips)
    fused = error_rates(clips, lambda c: c.fused)
    rules = [
        {"rule": name, **error_rates(clips, rule)} for name, rule in candidate_rules(threshold)
    ]
    return {
        "wake_word": WAKE_WORD,
        "threshold": threshold,
        "n_wake": sum(c.is_wake for c in clips),
        "n_other": sum(not c.is_wake for c in clips),
        "audio_seconds": round(audio, 3),
        **fused,
        "targets": {"miss_rate": TARGET_MISS_RATE, "false_accept_rate": TARGET_FALSE_ACCEPT_RATE},
        "rtf": real_time_factor(sum(c.fused_seconds for c in clips), audio),
        "detectors": {
            "openwakeword": {
                **error_rates(clips, lambda c: c.acoustic_score >= threshold),
                "rtf": real_time_factor(sum(c.acoustic_seconds for c in clips), audio),
            },
            "transcript": {
                **error_rates(clips, lambda c: c.transcript_match),
                "rtf": real_time_factor(sum(c.transcript_seconds for c in clips), audio),
            },
        },
        "rules": rules,
        "by_source": by_source(clips, threshold),
        "missed": [clip_record(c) for c in clips if c.is_wake and not c.fused],
        "false_accepts": [clip_record(c) for c in clips if not c.is_wake and c.fused],
        "clips": [clip_record(c) for c in clips],
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A few lines for a person: the fused figures against the targets, each detector
    alone, and the best rules this data supports."""
    lines = [
        f'wake word "{result["wake_word"]}": {result["n_wake"]} wake clips, '
        f"{result['n_other']} other; targets miss <= {percent(TARGET_MISS_RATE)}, "
        f"false accept <= {percent(TARGET_FALSE_ACCEPT_RATE)}",
        _rates_line("as shipped (two levels)", result),
    ]
    for name, figures in result["detectors"].items():
        lines.append(_rates_line(f"{name} alone", figures))
    ranked = sorted(
        result["rules"],
        key=lambda r: (
            not r["meets_targets"],
            (r["miss_rate"] or 0) + (r["false_accept_rate"] or 0),
        ),
    )
    lines.append("best rules on this data (chosen on the same clips: optimistic):")
    lines.extend(_rates_line(f"  {rule['rule']}", rule) for rule in ranked[:3])
    return lines


def _rates_line(name: str, figures: dict[str, Any]) -> str:
    rtf = f", RTF {figures['rtf']:.3f}" if figures.get("rtf") is not None else ""
    verdict = "meets targets" if figures["meets_targets"] else "misses targets"
    return (
        f"{name}: miss {percent(figures['miss_rate'])} ({figures['n_missed']}), "
        f"false accept {percent(figures['false_accept_rate'])} ({figures['n_false_accepts']})"
        f"{rtf}; {verdict}"
    )
