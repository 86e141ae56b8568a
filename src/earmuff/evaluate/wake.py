"""Wake-word verification measured: how many real "alexa" clips are missed, how many
other clips (other wake words, sentences, commands, digits) are let through, and which
fusion rule to ship, chosen by cross-validation over speakers.

Every clip is scored once by each detector: openWakeWord, the plain transcript check
and, where any candidate rule could ask it, the transcript check nudged towards the
wake word. Every rule is then decided from those scores, as
:class:`earmuff.speech.wake.WakeVerifier` decides it, so one pass measures the
configured rule, each detector alone and every candidate rule, and no model runs twice.

Why cross-validation over speakers: the rule shipped before was tuned on the same
clips it was judged on and met every target there; on other speakers it missed
"Alexa"s that openWakeWord scored as nothing and the transcript plainly heard, because
the tuned rule never asked the transcript below its lower threshold. Here a rule is
chosen on the speakers of all folds but one and judged on the speakers of that fold, so
the figures are those of the choosing procedure on speakers it never saw; the rule
family too is chosen by those held-out figures, not by looking at the misses.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from earmuff.evaluate.intervals import REPLICATES, percentile_interval, resample_speakers
from earmuff.evaluate.manifest import ManifestEntry, load_entry
from earmuff.evaluate.report import Progress, fraction, percent, real_time_factor
from earmuff.speech.wake import WakeDetector, WakeRule, WakeScore

WAKE_WORD = "alexa"
TARGET_MISS_RATE = 0.01
TARGET_FALSE_ACCEPT_RATE = 0.005
SWEEP = (0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.95, 0.99)
STRONGS: tuple[float | None, ...] = (0.5, 0.7, 0.9, 0.95, 0.99, 0.999, None)
"""Where the acoustic score may decide alone; None: nowhere."""
WEAKS = (0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5)
"""Where the nudged transcript check stops being asked."""
NUDGED_FROM = min(WEAKS)
"""No candidate rule asks the nudged check below this score, so it is not run there."""
FOLDS = 5
SEED = 0


class TimedDetector:
    """A detector that remembers how long its last score took, so the time of a rule
    can be summed from its detectors' times without running anything twice."""

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
    acoustic: TimedDetector
    plain: TimedDetector
    nudged: TimedDetector


def load_wake_models(asr_model: str = "tiny.en", threads: int = 2) -> WakeModels:
    """The pipeline's detectors: openWakeWord and both transcript checks on one Whisper."""
    from earmuff.evaluate.asr import evaluation_transcriber
    from earmuff.speech.wake import OpenWakeWordDetector, TranscriptWakeCheck

    transcriber = evaluation_transcriber(asr_model, threads)
    return WakeModels(
        TimedDetector(OpenWakeWordDetector(threads=threads)),
        TimedDetector(TranscriptWakeCheck(transcriber)),
        TimedDetector(TranscriptWakeCheck(transcriber, biased=True)),
    )


@dataclass(frozen=True)
class WakeClip:
    """One clip's scores and times; a transcript check that was not run is None."""

    entry: ManifestEntry
    audio_seconds: float
    acoustic_score: float
    acoustic_seconds: float
    transcript_match: bool | None
    transcript_seconds: float
    heard: str
    nudged_match: bool | None = None
    nudged_seconds: float = 0.0
    heard_nudged: str = ""

    @property
    def is_wake(self) -> bool:
        return self.entry.label == "wake"

    def accepted(self, rule: WakeRule) -> bool | None:
        """The rule's verdict; None when it needs a check this clip was not scored by."""
        check = rule.check(self.acoustic_score)
        heard = {None: None, "plain": self.transcript_match, "nudged": self.nudged_match}[check]
        if check is not None and heard is None:
            return None
        return rule.decide(self.acoustic_score, heard)

    def seconds(self, rule: WakeRule) -> float:
        """What the rule costs on this clip: openWakeWord, and the check it asks."""
        check = rule.check(self.acoustic_score)
        asked = {None: 0.0, "plain": self.transcript_seconds, "nudged": self.nudged_seconds}
        return self.acoustic_seconds + asked[check]


def score_clip(models: WakeModels, entry: ManifestEntry, nudged_from: float) -> WakeClip:
    """openWakeWord and the plain check on every clip (the plain check alone is a
    figure of its own); the nudged check where the acoustic score is ``nudged_from`` or
    more, which covers every rule that is measured."""
    samples, rate = load_entry(entry)
    acoustic = models.acoustic.score(samples, rate, WAKE_WORD)
    acoustic_seconds = models.acoustic.last_seconds
    plain = models.plain.score(samples, rate, WAKE_WORD)
    plain_seconds = models.plain.last_seconds
    nudged = None
    if acoustic.score >= nudged_from:
        nudged = models.nudged.score(samples, rate, WAKE_WORD)
    return WakeClip(
        entry=entry,
        audio_seconds=len(samples) / rate,
        acoustic_score=acoustic.score,
        acoustic_seconds=acoustic_seconds,
        transcript_match=plain.score >= 0.5,
        transcript_seconds=plain_seconds,
        heard=plain.evidence,
        nudged_match=None if nudged is None else nudged.score >= 0.5,
        nudged_seconds=models.nudged.last_seconds if nudged is not None else 0.0,
        heard_nudged=nudged.evidence if nudged is not None else "",
    )


def rule_families() -> dict[str, list[tuple[str, WakeRule]]]:
    """The candidate rules, by family. A family is what cross-validation chooses
    between; within it, the thresholds are fitted on each fold's training speakers."""

    def named(rules: Iterable[WakeRule]) -> list[tuple[str, WakeRule]]:
        return [(rule.describe(), rule) for rule in rules]

    finite = [s for s in STRONGS if s is not None]
    return {
        "acoustic alone": named(WakeRule(t, t, "reject") for t in SWEEP),
        "transcript alone": [("transcript alone", WakeRule(None, math.inf, "plain"))],
        "two levels: the acoustic score decides at both ends": named(
            WakeRule(s, w, "reject") for s in finite for w in WEAKS if w < s
        ),
        "acoustic alone only above strong, plain transcript below weak": named(
            WakeRule(s, w, "plain") for s in STRONGS for w in WEAKS if s is None or w < s
        ),
    }


def reach(rule: WakeRule) -> float:
    """How much of the acoustic range (0-1) the transcript is asked over. Between rules
    that the training speakers cannot tell apart, the one asking the transcript more
    widely is preferred: that the acoustic score was right alone on the speakers at
    hand is weak evidence that it will be on others (the held-out misses were exactly
    where the tuned rule had stopped asking)."""
    top = 1.0 if rule.strong is None else min(rule.strong, 1.0)
    bottom = 0.0 if rule.below_weak != "reject" else min(max(rule.weak, 0.0), top)
    return top - bottom


def nudged_reach(rule: WakeRule) -> float:
    """How much of the acoustic range the nudged check decides over. Between rules of
    equal errors and reach, the one leaving more to the plain check is preferred: nudged
    towards the wake word, Whisper hears it where it was never said."""
    top = 1.0 if rule.strong is None else min(rule.strong, 1.0)
    return max(top - max(rule.weak, 0.0), 0.0)


def preference(rule: WakeRule) -> tuple[float, float]:
    """Between rules the speakers at hand cannot tell apart: the widest reach of the
    transcript first, then the least left to the nudged check."""
    return (-reach(rule), nudged_reach(rule))


def error_rates(
    clips: Sequence[WakeClip], accept: Callable[[WakeClip], bool | None]
) -> dict[str, Any]:
    wake = [c for c in clips if c.is_wake]
    other = [c for c in clips if not c.is_wake]
    missed = sum(not accept(c) for c in wake)
    false_accepts = sum(bool(accept(c)) for c in other)
    miss_rate, fa_rate = fraction(missed, len(wake)), fraction(false_accepts, len(other))
    return {
        "miss_rate": miss_rate,
        "false_accept_rate": fa_rate,
        "n_missed": missed,
        "n_false_accepts": false_accepts,
        "meets_targets": meets_targets(miss_rate, fa_rate),
    }


def rule_rates(clips: Sequence[WakeClip], rule: WakeRule) -> dict[str, Any] | None:
    """The rule's error rates, or None if some clip lacks a check the rule needs."""
    if any(clip.accepted(rule) is None for clip in clips):
        return None
    return error_rates(clips, lambda clip: clip.accepted(rule))


def meets_targets(miss_rate: float | None, false_accept_rate: float | None) -> bool:
    return (miss_rate or 0.0) <= TARGET_MISS_RATE and (
        false_accept_rate or 0.0
    ) <= TARGET_FALSE_ACCEPT_RATE


def _ranking(rates: Mapping[str, Any]) -> tuple[bool, float]:
    return (
        not rates["meets_targets"],
        (rates["miss_rate"] or 0) + (rates["false_accept_rate"] or 0),
    )


def fit_rule(clips: Sequence[WakeClip], rules: Sequence[WakeRule]) -> WakeRule | None:
    """The rule that does best on these clips: meeting both targets first, then the
    fewest errors (miss rate plus false-accept rate), then :func:`preference`; None if
    no rule can be decided on every clip."""
    best: tuple[tuple[bool, float, float, float], WakeRule] | None = None
    for rule in rules:
        rates = rule_rates(clips, rule)
        if rates is None:
            continue
        key = (*_ranking(rates), *preference(rule))
        if best is None or key < best[0]:
            best = (key, rule)
    return None if best is None else best[1]


CALL_FOLDER = re.compile(r"(?:^|/)wuw/calls/[^/]+$")
FSDD_NAME = re.compile(r"(?:^|/)digits/\d+_([A-Za-z]+)_\d+\.wav$")


def known_speakers(entries: Iterable[ManifestEntry]) -> dict[str, str]:
    """Speaker ids from a manifest that has them (``speakers.jsonl``): by file, and by
    folder where every listed file of the folder is one speaker's (a WUW-II call, whose
    other utterances the wake manifest lists without a speaker)."""
    by_file: dict[str, str] = {}
    by_folder: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        if entry.speaker:
            by_file[entry.audio_filepath] = entry.speaker
            by_folder[str(PurePosixPath(entry.audio_filepath).parent)].add(entry.speaker)
    folders = {
        folder: next(iter(names))
        for folder, names in by_folder.items()
        if len(names) == 1 and CALL_FOLDER.search(folder)
    }
    return {**folders, **by_file}


def speaker_of(entry: ManifestEntry, known: Mapping[str, str]) -> str:
    """The clip's speaker: the manifest's, a known one, the Free Spoken Digit Dataset's
    (its file names carry it); else the clip is its own unit. Corpora that do not label
    speakers (the "alexa" clips, the coffee orders) can then have one person on both
    sides of a fold, which flatters the figures: the report counts such clips."""
    if entry.speaker:
        return entry.speaker
    path = entry.audio_filepath
    if path in known:
        return known[path]
    folder = str(PurePosixPath(path).parent)
    if folder in known:
        return known[folder]
    digits = FSDD_NAME.search(path)
    if digits is not None:
        return f"fsdd-{digits.group(1)}"
    return f"clip:{entry.name}"


def speaker_folds(
    speakers: Sequence[str], is_wake: Sequence[bool], folds: int, seed: int
) -> list[int]:
    """Each clip's fold, every speaker's clips in one fold. Speakers are shuffled, then
    placed largest first in the fold with the fewest clips of their kind (speakers
    with a wake clip, others), so each fold holds its share of both."""
    if folds < 2:
        raise ValueError("cross-validation needs at least two folds")
    members: dict[str, list[int]] = defaultdict(list)
    for index, speaker in enumerate(speakers):
        members[speaker].append(index)
    if len(members) < folds:
        raise ValueError(f"{len(members)} speakers cannot fill {folds} folds")
    names = sorted(members)
    order = np.random.default_rng(seed).permutation(len(names))
    shuffled = [names[i] for i in order]
    assignment = [0] * len(speakers)
    for wake in (True, False):
        group = [s for s in shuffled if any(is_wake[i] for i in members[s]) is wake]
        group.sort(key=lambda s: -len(members[s]))
        load = [0] * folds
        for speaker in group:
            fold = min(range(folds), key=lambda f: (load[f], f))
            load[fold] += len(members[speaker])
            for index in members[speaker]:
                assignment[index] = fold
    return assignment


def speaker_intervals(
    clips: Sequence[WakeClip],
    speakers: Sequence[str],
    accepted: Sequence[bool],
    replicates: int,
    seed: int,
) -> dict[str, list[float] | None]:
    """95 % intervals of the miss and false-accept rates, resampling speakers (those
    with a wake clip and the others, each group to its own size)."""
    is_wake = np.array([c.is_wake for c in clips])
    decided = np.array(accepted, dtype=bool)
    wake_speakers = sorted({s for s, w in zip(speakers, is_wake, strict=True) if w})
    other_speakers = sorted(set(speakers) - set(wake_speakers))
    resample = resample_speakers(
        [wake_speakers, other_speakers], replicates, np.random.default_rng(seed)
    )
    counts = resample.of(list(speakers))
    with np.errstate(invalid="ignore", divide="ignore"):
        miss = (counts @ (is_wake & ~decided)) / (counts @ is_wake)
        false_accept = (counts @ (~is_wake & decided)) / (counts @ ~is_wake)
    return {
        "miss_rate": percentile_interval(miss),
        "false_accept_rate": percentile_interval(false_accept),
    }


def cross_validate(
    clips: Sequence[WakeClip],
    speakers: Sequence[str],
    configured: WakeRule,
    folds: int = FOLDS,
    seed: int = SEED,
    replicates: int = REPLICATES,
) -> dict[str, Any]:
    """Every family's thresholds fitted on the speakers of all folds but one and judged
    on that fold's; the family with the best held-out figures is chosen, and its rule
    is the one its folds chose most often (ties: :func:`preference`).
    The chosen rule is never fitted on every speaker at once: its figures are the
    pooled held-out verdicts of its folds, with intervals over speakers."""
    assignment = speaker_folds(speakers, [c.is_wake for c in clips], folds, seed)
    families: dict[str, dict[str, Any]] = {}
    verdicts: dict[str, list[bool]] = {}
    for family, candidates in rule_families().items():
        rules = [rule for _, rule in candidates]
        pooled: list[bool | None] = [None] * len(clips)
        per_fold = []
        for fold in range(folds):
            train = [c for c, f in zip(clips, assignment, strict=True) if f != fold]
            rule = fit_rule(train, rules)
            test = [i for i, f in enumerate(assignment) if f == fold]
            if rule is None:
                break
            for i in test:
                pooled[i] = clips[i].accepted(rule)
            held_out = [clips[i] for i in test]
            rates = _pooled_rates(held_out, [bool(pooled[i]) for i in test])
            per_fold.append({"fold": fold, "rule": rule.describe(), **rates})
        if len(per_fold) < folds or any(v is None for v in pooled):
            families[family] = {"measured": False}
            continue
        decided = [bool(v) for v in pooled]
        verdicts[family] = decided
        chosen = Counter(row["rule"] for row in per_fold)
        by_name = {rule.describe(): rule for rule in rules}
        rule = min(chosen, key=lambda name: (-chosen[name], *preference(by_name[name])))
        families[family] = {
            "measured": True,
            **_pooled_rates(clips, decided),
            "rule": rule,
            "reach": reach(by_name[rule]),
            "nudged_reach": nudged_reach(by_name[rule]),
            "folds_choosing_it": chosen[rule],
            "folds": per_fold,
        }
    measured = {name: figures for name, figures in families.items() if figures["measured"]}
    if not measured:
        raise ValueError("no rule family can be decided on these clips")
    best = min(
        measured,
        key=lambda name: (
            *_ranking(measured[name]),
            -measured[name]["reach"],
            measured[name]["nudged_reach"],
        ),
    )
    rule_by_name = {r.describe(): r for _, r in rule_families()[best]}
    chosen_rule = rule_by_name[measured[best]["rule"]]
    fold_rows = []
    for fold in range(folds):
        held_out = [c for c, f in zip(clips, assignment, strict=True) if f == fold]
        fold_speakers = {s for s, f in zip(speakers, assignment, strict=True) if f == fold}
        fold_rows.append(
            {
                "fold": fold,
                "speakers": len(fold_speakers),
                "n_wake": sum(c.is_wake for c in held_out),
                "n_other": sum(not c.is_wake for c in held_out),
                "chosen": measured[best]["folds"][fold],
                "configured": rule_rates(held_out, configured),
            }
        )
    unlabelled = sum(speaker.startswith("clip:") for speaker in speakers)
    return {
        "folds": folds,
        "seed": seed,
        "speakers": len(set(speakers)),
        "clips_without_a_known_speaker": unlabelled,
        "family": best,
        "rule": measured[best]["rule"],
        "strong": chosen_rule.strong,
        "weak": None if math.isinf(chosen_rule.weak) else chosen_rule.weak,
        "below_weak": chosen_rule.below_weak,
        **{
            k: measured[best][k]
            for k in (
                "miss_rate",
                "false_accept_rate",
                "n_missed",
                "n_false_accepts",
                "meets_targets",
            )
        },
        "intervals": speaker_intervals(clips, speakers, verdicts[best], replicates, seed),
        "configured": {
            "rule": configured.describe(),
            **(rule_rates(clips, configured) or {}),
        },
        "per_fold": fold_rows,
        "families": families,
    }


def _pooled_rates(clips: Sequence[WakeClip], accepted: Sequence[bool]) -> dict[str, Any]:
    verdict = {id(clip): decided for clip, decided in zip(clips, accepted, strict=True)}
    return error_rates(clips, lambda clip: verdict[id(clip)])


def by_source(
    clips: Iterable[WakeClip], threshold: float, rule: WakeRule
) -> dict[str, dict[str, Any]]:
    """Which kind of audio fails: per source, how often each detector and the
    configured rule said "wake"."""
    groups: dict[str, list[WakeClip]] = defaultdict(list)
    for clip in clips:
        groups[clip.entry.source or "unknown"].append(clip)
    breakdown = {}
    for source, members in sorted(groups.items()):
        labels = sorted({c.entry.label or "" for c in members})
        fused = sum(bool(c.accepted(rule)) for c in members)
        breakdown[source] = {
            "labels": labels,
            "n": len(members),
            "accepted_fused": fused,
            "accepted_openwakeword": sum(c.acoustic_score >= threshold for c in members),
            "accepted_transcript": sum(bool(c.transcript_match) for c in members),
            "accept_rate_fused": fraction(fused, len(members)),
        }
    return breakdown


def clip_record(clip: WakeClip, rule: WakeRule) -> dict[str, Any]:
    """Everything needed to decide any rule again (``earmuff eval wake --scores-from``)."""
    return {
        "file": clip.entry.name,
        "source": clip.entry.source,
        "label": clip.entry.label,
        "fused": clip.accepted(rule),
        "openwakeword": round(clip.acoustic_score, 6),
        "transcript": clip.transcript_match,
        "nudged": clip.nudged_match,
        "heard": clip.heard,
        "heard_nudged": clip.heard_nudged,
        "audio_seconds": round(clip.audio_seconds, 3),
        "openwakeword_seconds": round(clip.acoustic_seconds, 4),
        "transcript_seconds": round(clip.transcript_seconds, 4),
        "nudged_seconds": round(clip.nudged_seconds, 4),
    }


def clips_from_records(records: Iterable[Mapping[str, Any]]) -> list[WakeClip]:
    """Clips scored by an earlier run, from its ``clips``: the figures and the
    cross-validation are decided from scores, so they can be redone without the models.
    The scores are kept unrounded enough for every threshold considered (six places)."""
    clips = []
    for line, record in enumerate(records, start=1):
        name = str(record["file"])
        entry = ManifestEntry(
            line,
            name,
            Path(name),
            float(record.get("audio_seconds", 0.0)),
            label=record.get("label"),
            source=record.get("source"),
        )
        clips.append(
            WakeClip(
                entry=entry,
                audio_seconds=float(record.get("audio_seconds", 0.0)),
                acoustic_score=float(record["openwakeword"]),
                acoustic_seconds=float(record.get("openwakeword_seconds", 0.0)),
                transcript_match=record.get("transcript"),
                transcript_seconds=float(record.get("transcript_seconds", 0.0)),
                heard=str(record.get("heard") or ""),
                nudged_match=record.get("nudged"),
                nudged_seconds=float(record.get("nudged_seconds", 0.0)),
                heard_nudged=str(record.get("heard_nudged") or ""),
            )
        )
    return clips


def read_scores(path: Path) -> list[WakeClip]:
    """The clips of an earlier ``earmuff eval wake --json`` result."""
    return clips_from_records(json.loads(path.read_text())["clips"])


def score_clips(
    entries: Sequence[ManifestEntry],
    models: WakeModels,
    progress: Progress | None = None,
    nudged_from: float = NUDGED_FROM,
) -> list[WakeClip]:
    clips = []
    for entry in entries:
        clips.append(score_clip(models, entry, nudged_from))
        if progress is not None:
            progress()
    return clips


def summarise_wake(
    clips: Sequence[WakeClip],
    threshold: float,
    rule: WakeRule,
    speakers: Sequence[str] | None = None,
    folds: int = FOLDS,
    seed: int = SEED,
) -> dict[str, Any]:
    """Every figure from the clips' scores; with ``speakers``, the cross-validation too."""
    audio = sum(c.audio_seconds for c in clips)
    fused = rule_rates(clips, rule)
    if fused is None:
        raise ValueError(f"the clips lack a check that the rule {rule.describe()!r} needs")
    plain = [c for c in clips if c.transcript_match is not None]
    rules = [{"rule": f"as configured: {rule.describe()}", **fused}]
    for family, candidates in rule_families().items():
        for name, candidate in candidates:
            rates = rule_rates(clips, candidate)
            if rates is not None:
                rules.append({"rule": name, "family": family, **rates})
    result: dict[str, Any] = {
        "wake_word": WAKE_WORD,
        "threshold": threshold,
        "rule": rule.describe(),
        "n_wake": sum(c.is_wake for c in clips),
        "n_other": sum(not c.is_wake for c in clips),
        "audio_seconds": round(audio, 3),
        **fused,
        "targets": {"miss_rate": TARGET_MISS_RATE, "false_accept_rate": TARGET_FALSE_ACCEPT_RATE},
        "rtf": real_time_factor(sum(c.seconds(rule) for c in clips), audio),
        "transcript_asked": fraction(
            sum(rule.check(c.acoustic_score) is not None for c in clips), len(clips)
        ),
        "detectors": {
            "openwakeword": {
                **error_rates(clips, lambda c: c.acoustic_score >= threshold),
                "rtf": real_time_factor(sum(c.acoustic_seconds for c in clips), audio),
            },
            "transcript": {
                **error_rates(plain, lambda c: c.transcript_match),
                "n": len(plain),
                "rtf": real_time_factor(
                    sum(c.transcript_seconds for c in plain), sum(c.audio_seconds for c in plain)
                ),
            },
        },
        "rules": rules,
        "by_source": by_source(clips, threshold, rule),
        "missed": [clip_record(c, rule) for c in clips if c.is_wake and not c.accepted(rule)],
        "false_accepts": [
            clip_record(c, rule) for c in clips if not c.is_wake and c.accepted(rule)
        ],
        "clips": [clip_record(c, rule) for c in clips],
    }
    if speakers is not None:
        result["cross_validation"] = cross_validate(clips, speakers, rule, folds, seed)
    return result


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A few lines for a person: the configured rule against the targets, each detector
    alone, and what cross-validation over speakers chose, fold by fold."""
    lines = [
        f'wake word "{result["wake_word"]}": {result["n_wake"]} wake clips, '
        f"{result['n_other']} other; targets miss <= {percent(TARGET_MISS_RATE)}, "
        f"false accept <= {percent(TARGET_FALSE_ACCEPT_RATE)}",
        _rates_line(f"as configured ({result['rule']})", result),
    ]
    total = result["n_wake"] + result["n_other"]
    for name, figures in result["detectors"].items():
        scope = (
            f" (on the {figures['n']} clips it was run on)"
            if figures.get("n", total) < total
            else ""
        )
        lines.append(_rates_line(f"{name} alone{scope}", figures))
    cv = result.get("cross_validation")
    if cv is None:
        return lines
    lines.append(
        f"cross-validation: {cv['folds']} folds by speaker, {cv['speakers']} speakers "
        f"({cv['clips_without_a_known_speaker']} clips without a known speaker, each its own)"
    )
    for family, figures in cv["families"].items():
        if figures["measured"]:
            lines.append(_rates_line(f"  family {family!r} held out", figures))
    intervals = cv["intervals"]
    lines.append(f"chosen family: {cv['family']}; rule: {cv['rule']}")
    lines.append(
        _rates_line("  held out", cv)
        + f"; 95 % over speakers: miss {_interval(intervals['miss_rate'])}, "
        f"false accept {_interval(intervals['false_accept_rate'])}"
    )
    for row in cv["per_fold"]:
        chosen, configured = row["chosen"], row["configured"]
        lines.append(
            f"  fold {row['fold']}: {row['speakers']} speakers, {row['n_wake']} wake / "
            f"{row['n_other']} other; chosen {chosen['n_missed']} missed, "
            f"{chosen['n_false_accepts']} false accepts ({chosen['rule']})"
            + (
                f"; configured {configured['n_missed']} missed, "
                f"{configured['n_false_accepts']} false accepts"
                if configured
                else ""
            )
        )
    return lines


def _interval(bounds: list[float] | None) -> str:
    return "n/a" if bounds is None else f"{percent(bounds[0])} to {percent(bounds[1])}"


def _rates_line(name: str, figures: dict[str, Any]) -> str:
    rtf = f", RTF {figures['rtf']:.3f}" if figures.get("rtf") is not None else ""
    verdict = "meets targets" if figures["meets_targets"] else "misses targets"
    return (
        f"{name}: miss {percent(figures['miss_rate'])} ({figures['n_missed']}), "
        f"false accept {percent(figures['false_accept_rate'])} ({figures['n_false_accepts']})"
        f"{rtf}; {verdict}"
    )
