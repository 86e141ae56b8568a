"""How far a figure could move with other speakers: intervals from resampling speakers.

The anonymization targets are also held to a held-out set of other speakers, and thirty
telephone callers are a small sample of voices: an EER or a WER rise measured on them
is one reading of what the next thirty would give. Clips of one speaker are not
independent evidence (a voice the anonymizer hides badly, or a caller whose words
Whisper loses, moves all of that speaker's clips together), so the bootstrap here
resamples speakers, not clips (a cluster bootstrap: Bolle et al.'s "subsets bootstrap"
for verification errors, Bisani and Ney's for ASR error rates). Each replicate draws the
speakers of each group (enrolled, impostor-only) from that group with replacement and
weighs every score by how often its two speakers were drawn, every clip's words by how
often its speaker was; the figure is recomputed under those weights, and the interval
is the replicates' central percentiles.

What this does not count: another draw of the anonymizer's parameters (that is what
``--draws`` averages over; the draws of one run share their replicates, so the interval
is that of their mean) and Whisper's sampling noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.float64]

LEVEL = 0.95
REPLICATES = 1000
CHUNK = 200
"""Replicates weighed at once: bounds the weight tensor (replicates x speakers x trials)."""


def weighted_eers(
    target: npt.ArrayLike,
    nontarget: npt.ArrayLike,
    target_weights: npt.ArrayLike,
    nontarget_weights: npt.ArrayLike,
) -> Vector:
    """The EER of the same scores under each row of weights (one row per replicate).

    Read off the weighted ROC as :func:`earmuff.evaluate.anonymization.equal_error_rate`
    reads the plain one (tied scores move together, the crossing linearly interpolated):
    unit weights give exactly its figure, and weight ``k`` counts a score ``k`` times. A
    row that weighs no target or no impostor has no EER (NaN).
    """
    target = np.asarray(target, dtype=np.float64).ravel()
    nontarget = np.asarray(nontarget, dtype=np.float64).ravel()
    scores = np.concatenate([target, nontarget])
    weights = np.concatenate(
        [np.atleast_2d(target_weights), np.atleast_2d(nontarget_weights)], axis=1
    ).astype(np.float64)
    if weights.shape[1] != scores.size:
        raise ValueError("need one weight per score")
    is_target = np.concatenate([np.ones(target.size, bool), np.zeros(nontarget.size, bool)])
    order = np.argsort(scores, kind="mergesort")
    scores, is_target, weights = scores[order], is_target[order], weights[:, order]
    cuts = np.concatenate([[0], np.flatnonzero(np.diff(scores)) + 1, [scores.size]])
    start = np.zeros((len(weights), 1))
    rejected_targets = np.concatenate(
        [start, np.cumsum(np.where(is_target, weights, 0.0), axis=1)], axis=1
    )[:, cuts]
    rejected_nontargets = np.concatenate(
        [start, np.cumsum(np.where(is_target, 0.0, weights), axis=1)], axis=1
    )[:, cuts]
    targets, nontargets = rejected_targets[:, -1:], rejected_nontargets[:, -1:]
    valid = (targets[:, 0] > 0) & (nontargets[:, 0] > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        miss = rejected_targets / targets
        false_accept = 1.0 - rejected_nontargets / nontargets
    gap = np.where(valid[:, None], miss - false_accept, 1.0)
    rows = np.arange(len(weights))
    after = np.argmax(gap >= 0.0, axis=1)
    before = np.maximum(after - 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = -gap[rows, before] / (gap[rows, after] - gap[rows, before])
        eers = miss[rows, before] + share * (miss[rows, after] - miss[rows, before])
    return np.where(valid, eers, np.nan)


@dataclass(frozen=True)
class SpeakerResample:
    """Bootstrap replicates of a set of speakers: how often each was drawn in each."""

    speakers: tuple[str, ...]
    counts: npt.NDArray[np.float64]
    """``[replicate, speaker]``: the times the speaker was drawn in that replicate."""

    def of(self, names: Sequence[str]) -> Matrix:
        """``[replicate, i]``: the count of ``names[i]``'s speaker (0 for one not drawn
        from at all)."""
        index = {speaker: column for column, speaker in enumerate(self.speakers)}
        padded = np.concatenate([self.counts, np.zeros((len(self.counts), 1))], axis=1)
        return padded[:, [index.get(name, len(self.speakers)) for name in names]]

    def chunks(self) -> list[SpeakerResample]:
        return [
            SpeakerResample(self.speakers, self.counts[start : start + CHUNK])
            for start in range(0, len(self.counts), CHUNK)
        ]


def resample_speakers(
    groups: Sequence[Sequence[str]], replicates: int, rng: np.random.Generator
) -> SpeakerResample:
    """``replicates`` resamplings, each group drawn with replacement to its own size, so
    every replicate keeps as many enrolled speakers (and as many impostors) as the
    measurement had."""
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    speakers: list[str] = []
    counts = []
    for group in groups:
        members = list(dict.fromkeys(group))
        if not members:
            continue
        speakers.extend(members)
        even = np.full(len(members), 1 / len(members))
        counts.append(rng.multinomial(len(members), even, replicates))
    if not speakers:
        raise ValueError("there are no speakers to resample")
    return SpeakerResample(tuple(speakers), np.concatenate(counts, axis=1).astype(np.float64))


def attack_eers(
    scores: Matrix,
    enrolled: Sequence[str],
    trial_speakers: Sequence[str],
    resample: SpeakerResample,
) -> Vector:
    """One attack's EER in every replicate: ``scores[speaker, trial]`` against the enrolled
    speakers, each cell weighed by how often its enrolled and its trial speaker were
    drawn."""
    mask = np.array(enrolled)[:, None] == np.array(trial_speakers)[None, :]
    eers = []
    for part in resample.chunks():
        weights = part.of(enrolled)[:, :, None] * part.of(trial_speakers)[:, None, :]
        eers.append(weighted_eers(scores[mask], scores[~mask], weights[:, mask], weights[:, ~mask]))
    return np.concatenate(eers)


def error_rate_rises(
    speakers: Sequence[str],
    words: npt.ArrayLike,
    added_errors: npt.ArrayLike,
    resample: SpeakerResample,
) -> Vector:
    """The WER rise (pooled errors added over pooled reference words) in every replicate,
    from each clip's speaker, reference words and ``added_errors[draw, clip]``: the rise
    of the draws' mean."""
    counts = resample.of(speakers)
    added = np.atleast_2d(np.asarray(added_errors, dtype=np.float64)).mean(axis=0)
    total = counts @ np.asarray(words, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (counts @ added) / total, np.nan)


def percentile_interval(values: npt.ArrayLike, level: float = LEVEL) -> list[float] | None:
    """The central ``level`` of the replicates' figures, rounded; None when no replicate
    had the figure."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return [round(float(low), 6), round(float(high), 6)]
