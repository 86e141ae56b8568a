"""Intervals from resampling speakers: the weighted EER they rest on, the resampling,
and what `earmuff eval anonymization` reports with them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from earmuff.evaluate.anonymization import (
    EvaluationCache,
    equal_error_rate,
    evaluate_draws,
    summary_lines,
)
from earmuff.evaluate.intervals import (
    SpeakerResample,
    attack_eers,
    error_rate_rises,
    percentile_interval,
    resample_speakers,
    weighted_eers,
)
from earmuff.speech.asr import Transcriber
from tests.evaluate.fakes import Halving, Heard, PitchEmbedder, tone_speakers


def test_unit_weights_give_the_plain_eer_to_the_last_bit() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        target = np.round(rng.normal(1.0, 1.0, 30), 1)  # rounded: many ties
        nontarget = np.round(rng.normal(0.0, 1.0, 90), 1)
        (eer,) = weighted_eers(target, nontarget, np.ones(30), np.ones(90))
        assert eer == equal_error_rate(target, nontarget)


def test_a_weight_of_k_counts_a_score_k_times() -> None:
    rng = np.random.default_rng(1)
    target, nontarget = rng.normal(1.0, 1.0, 12), rng.normal(0.0, 1.0, 20)
    target_weights, nontarget_weights = rng.integers(0, 4, 12), rng.integers(0, 4, 20)
    (eer,) = weighted_eers(target, nontarget, target_weights, nontarget_weights)
    repeated = equal_error_rate(
        np.repeat(target, target_weights), np.repeat(nontarget, nontarget_weights)
    )
    assert eer == pytest.approx(repeated, abs=1e-12)


def test_each_row_of_weights_is_its_own_replicate() -> None:
    # 0.1 N, 0.4 T, 0.5 N, 0.6 T: weighing out the overlap (0.4 T, 0.5 N) separates them
    eers = weighted_eers([0.4, 0.6], [0.1, 0.5], [[1, 1], [0, 1], [0, 0]], [[1, 1], [1, 0], [1, 1]])
    assert eers[0] == pytest.approx(equal_error_rate([0.4, 0.6], [0.1, 0.5]))
    assert eers[1] == 0.0
    assert np.isnan(eers[2]), "a replicate without a target has no EER"


def test_weights_must_match_the_scores() -> None:
    with pytest.raises(ValueError, match="one weight per score"):
        weighted_eers([0.4], [0.1, 0.5], [1], [1])


def test_each_group_keeps_its_size_in_every_replicate() -> None:
    resample = resample_speakers([["a", "b", "c"], ["x", "y"]], 500, np.random.default_rng(0))
    assert resample.speakers == ("a", "b", "c", "x", "y")
    assert (resample.counts[:, :3].sum(axis=1) == 3).all()
    assert (resample.counts[:, 3:].sum(axis=1) == 2).all()
    assert resample.counts[:, 0].mean() == pytest.approx(1.0, abs=0.15)
    assert (resample.of(["c", "a", "nobody"])[:, 2] == 0).all()
    again = resample_speakers([["a", "b", "c"], ["x", "y"]], 500, np.random.default_rng(0))
    assert (again.counts == resample.counts).all(), "a seed gives the same replicates"


def test_resampling_needs_speakers_and_replicates() -> None:
    with pytest.raises(ValueError, match="no speakers"):
        resample_speakers([[], []], 10, np.random.default_rng(0))
    with pytest.raises(ValueError, match="replicates"):
        resample_speakers([["a"]], 0, np.random.default_rng(0))


def test_an_attack_under_the_sample_itself_is_the_measured_eer() -> None:
    rng = np.random.default_rng(2)
    enrolled, trials = ["a", "b", "c"], ["a", "a", "b", "b", "c", "c", "z"]
    scores = rng.normal(0.0, 1.0, (3, 7))
    mask = np.array(enrolled)[:, None] == np.array(trials)[None, :]
    scores[mask] += 1.0
    itself = SpeakerResample(("a", "b", "c", "z"), np.ones((2, 4)))
    eers = attack_eers(scores, enrolled, trials, itself)
    assert eers == pytest.approx([equal_error_rate(scores[mask], scores[~mask])] * 2)


def test_an_attack_that_only_fails_on_one_speaker_moves_with_that_speaker() -> None:
    enrolled, trials = ["a", "b"], ["a", "a", "b", "b"]
    scores = np.array([[0.9, 0.9, 0.1, 0.1], [0.1, 0.1, 0.0, 0.0]])  # b's trials miss
    drawn = SpeakerResample(("a", "b"), np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0]]))
    eers = attack_eers(scores, enrolled, trials, drawn)
    assert np.isnan(eers[0]) and np.isnan(eers[1]), "one speaker drawn twice: no impostor"
    assert eers[2] == pytest.approx(equal_error_rate(scores[[0, 1], [0, 2]], [0.1, 0.1, 0.1, 0.1]))


def test_a_wer_rise_weighs_each_speakers_words_and_averages_the_draws() -> None:
    drawn = SpeakerResample(("a", "b"), np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 2.0]]))
    # a: two clips of 5 words, 2 and 0 errors added (then 4 and 0); b: 10 words, none
    rises = error_rate_rises(["a", "a", "b"], [5, 5, 10], [[2, 0, 0], [4, 0, 0]], drawn)
    assert rises == pytest.approx([3 / 20, 3 / 10, 0.0])


def test_the_interval_is_the_central_share_of_the_replicates() -> None:
    assert percentile_interval(np.arange(101) / 100) == [0.025, 0.975]
    assert percentile_interval([0.2, np.nan, 0.2]) == [0.2, 0.2]
    assert percentile_interval([np.nan]) is None


@dataclass
class _LosesTheLowVoice:
    """Hears every clip right except anonymized clips of the lowest voice (200 Hz)."""

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> Heard:
        spectrum = np.abs(np.fft.rfft(samples))
        low = int(np.argmax(spectrum)) * sample_rate / len(samples) < 220
        return Heard("hello" if low and np.max(np.abs(samples)) < 0.6 else "hello world")


def test_evaluation_reports_where_its_figures_could_lie_with_other_speakers(
    tmp_path: Path,
) -> None:
    """Six tones, one voice each: kept apart by the attacker whatever the sample, so every
    EER's interval is a point; only the lowest voice loses words, so the WER rise's
    interval runs from samples without that speaker to samples with it several times."""
    entries = tone_speakers(tmp_path)
    cache = EvaluationCache(encoder=PitchEmbedder())
    cache.transcribers["tiny.en"] = cast(Transcriber, _LosesTheLowVoice())
    result = evaluate_draws(entries, Halving(), draws=2, wer_filter=None, splits=2, cache=cache)
    intervals = result["intervals"]
    assert (intervals["level"], intervals["replicates"], intervals["resampled"]) == (
        0.95,
        1000,
        "speakers",
    )
    assert intervals["eer_ignorant"] == intervals["eer_lazy_informed"] == [0.0, 0.0]
    assert intervals["eer_semi_informed"] is not None
    assert result["wer_rise"] == pytest.approx(3 / 36, abs=1e-6)
    low, high = intervals["wer_rise"]
    assert low == 0.0, "a third of the samples leave the low voice out"
    assert 0.15 < high <= 0.5
    assert any(
        line.startswith("95 % intervals over 1000 resamplings") for line in summary_lines(result)
    )
    again = evaluate_draws(entries, Halving(), draws=2, wer_filter=None, splits=2, cache=cache)
    assert again["intervals"] == intervals, "the replicates follow the seed"


def test_no_clips_no_intervals() -> None:
    cache = EvaluationCache(encoder=PitchEmbedder())
    result = evaluate_draws([], Halving(), wer_filter=None, splits=1, cache=cache)
    assert result["intervals"] == {"level": 0.95, "replicates": 1000, "resampled": "speakers"}
    assert not any("intervals" in line for line in summary_lines(result))
