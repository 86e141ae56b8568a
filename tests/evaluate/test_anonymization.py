"""Anonymization evaluation: a correct EER, the enrollment/trial protocol, the attackers,
and one run on real speech."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import soundfile as sf
from legal_eval import rocch_eer
from scipy.stats import norm

from earmuff.audio.anonymize import McAdamsAnonymizer
from earmuff.evaluate.anonymization import (
    EvaluationCache,
    attack_eer,
    combine_draws,
    design_trials,
    enroll,
    equal_error_rate,
    evaluate_draws,
    semi_informed_attacks,
    target_and_impostor,
)
from earmuff.evaluate.manifest import ManifestEntry, read_manifest
from earmuff.speech.asr import Transcriber
from tests.evaluate.fakes import Halving, Heard, PitchEmbedder, tone_speakers


def test_eer_of_a_hand_worked_example() -> None:
    # sorted: 0.1 N, 0.4 T, 0.5 N, 0.6 T, 0.7 N, 0.8 T; above 0.45: 1/3 miss, 1/3 accepted
    assert equal_error_rate([0.4, 0.6, 0.8], [0.1, 0.5, 0.7]) == pytest.approx(1 / 3)


def test_eer_interpolates_between_roc_points() -> None:
    # thresholds give (miss, false accept) = (0, 1), (0.5, 1), (0.5, 0), (1, 0): the
    # crossing lies halfway along the middle segment
    assert equal_error_rate([0.2, 0.6], [0.4]) == pytest.approx(0.5)


def test_eer_extremes_and_ties() -> None:
    assert equal_error_rate([2.0, 3.0], [0.0, 1.0]) == 0.0
    assert equal_error_rate([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert equal_error_rate([1.0] * 5, [1.0] * 7) == pytest.approx(0.5)


def test_eer_of_separated_gaussians_matches_theory() -> None:
    rng = np.random.default_rng(0)
    for distance in (0.5, 1.0, 2.0):
        target = rng.normal(distance, 1.0, 40_000)
        nontarget = rng.normal(0.0, 1.0, 60_000)
        expected = norm.cdf(-distance / 2)
        assert equal_error_rate(target, nontarget) == pytest.approx(expected, abs=0.006)


def test_eer_is_never_below_the_roc_convex_hull_eer() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        target = rng.normal(1.0, 1.0, rng.integers(3, 40)).round(1)
        nontarget = rng.normal(0.0, 1.0, rng.integers(3, 40)).round(1)
        assert equal_error_rate(target, nontarget) >= rocch_eer(target, nontarget) - 1e-12


def test_eer_refuses_empty_or_non_finite_scores() -> None:
    with pytest.raises(ValueError, match="both"):
        equal_error_rate([], [0.1])
    with pytest.raises(ValueError, match="finite"):
        equal_error_rate([0.1, math.nan], [0.1])


def test_speakers_are_enrolled_on_their_first_two_clips_and_the_rest_are_trials() -> None:
    speakers = ["a", "b", "a", "c", "a", "b", "a", "b"]
    design = design_trials(speakers)
    assert design.speakers == ("a", "b")
    assert design.enrollment == ((0, 2), (1, 5))
    assert design.trials == (3, 4, 6, 7)
    assert design.trial_speakers == ("c", "a", "a", "b")
    assert design.target_mask().tolist() == [
        [False, True, True, False],
        [False, False, False, True],
    ]


def test_a_speaker_with_two_clips_is_only_an_impostor() -> None:
    design = design_trials(["a", "a", "b", "b", "b"])
    assert design.speakers == ("b",)
    assert design.trials == (0, 1, 4)


def test_enrollment_is_the_unit_mean_of_unit_embeddings() -> None:
    embeddings = np.array([[2.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    design = design_trials(["a", "a", "a"])
    [vector] = enroll(embeddings, design)
    assert vector == pytest.approx([math.sqrt(0.5), math.sqrt(0.5)])


def orthogonal_speakers(per_speaker: int, count: int, noise: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    identity = np.eye(count)
    return np.repeat(identity, per_speaker, axis=0) + noise * rng.standard_normal(
        (per_speaker * count, count)
    )


def test_distinct_voices_give_a_zero_eer_and_one_voice_a_coin() -> None:
    speakers = [s for s in "abcd" for _ in range(4)]
    distinct = orthogonal_speakers(4, 4, noise=0.05)
    design = design_trials(speakers)
    assert attack_eer(distinct, distinct, design) == 0.0
    same = np.ones_like(distinct)
    assert attack_eer(same, same, design) == pytest.approx(0.5)
    assert attack_eer(distinct, same, design) == pytest.approx(0.5), "ignorant: enroll on one"


def test_no_eer_without_impostors() -> None:
    assert attack_eer(np.eye(3), np.eye(3), design_trials(["a", "a", "a"])) is None


def test_the_semi_informed_attacker_sees_through_a_nuisance_that_fools_cosine() -> None:
    rng = np.random.default_rng(3)
    n_speakers, per_speaker = 40, 6
    speakers = [f"s{i}" for i in range(n_speakers) for _ in range(per_speaker)]
    voices = np.repeat(rng.standard_normal((n_speakers, 4)), per_speaker, axis=0)
    identity = voices + 0.2 * rng.standard_normal(voices.shape)
    nuisance = 4.0 * rng.standard_normal((len(speakers), 30))
    embeddings = np.hstack([identity, nuisance])
    cosine = attack_eer(embeddings, embeddings, design_trials(speakers))
    splits = semi_informed_attacks(embeddings, speakers, train_fraction=0.5, splits=3, seed=0)
    semi = [equal_error_rate(*target_and_impostor(scores, held)) for scores, held in splits]
    assert cosine is not None and cosine > 0.4
    assert len(semi) == 3
    assert max(semi) < 0.2


def a_run(seed: int, lazy: float, semi: float | None) -> dict[str, object]:
    curve = {"n_speakers": 2, "value": lazy, "chance": 0.5, "by_n_speakers": {"2": lazy}}
    return {
        "seed": seed,
        "eer_original": 0.05,
        "eer_ignorant": 0.4,
        "eer_lazy_informed": lazy,
        "eer_semi_informed": semi,
        "wer_original": 0.17,
        "wer_anonymized": 0.2 + lazy / 10,
        "wer_rise": 0.03 + lazy / 10,
        "rtf": 0.02,
        "semi_informed": {"eer_by_split": [] if semi is None else [semi]},
        "wer": {"n": 1, "anonymized": {"substitutions": seed}},
        "legal": {"lazy_informed": {"linkability": curve, "singling_out": None}, "original": {}},
        "scores": {"ignorant": {"target": [0.9], "nontarget": [0.1, seed / 10]}},
    }


def test_several_draws_give_means_each_draw_and_the_range() -> None:
    combined = combine_draws([a_run(0, 0.3, 0.25), a_run(1, 0.4, 0.35)])
    assert combined["seeds"] == [0, 1] and "seed" not in combined
    assert combined["eer_lazy_informed"] == pytest.approx(0.35)
    assert combined["eer_semi_informed"] == pytest.approx(0.3)
    assert combined["eer_original"] == 0.05, "the originals do not depend on the draw"
    assert combined["spread"]["eer_lazy_informed"] == [0.3, 0.4]
    assert [run["eer_lazy_informed"] for run in combined["by_seed"]] == [0.3, 0.4]
    assert combined["legal"]["lazy_informed"]["linkability"]["value"] == pytest.approx(0.35)
    assert combined["legal"]["lazy_informed"]["singling_out"] is None
    assert combined["scores"]["ignorant"]["nontarget"] == [0.1, 0.0, 0.1, 0.1]
    assert combined["semi_informed"]["eer_by_split"] == [0.25, 0.35]
    assert combined["wer"] == {"n": 1}, "word errors of one draw are not the whole's"
    assert combined["by_seed"][1]["wer"]["anonymized"] == {"substitutions": 1}
    assert combined["meets_targets"]["eer_lazy_informed"] is True


def test_a_figure_missing_in_one_draw_is_missing_from_the_mean() -> None:
    combined = combine_draws([a_run(0, 0.3, 0.25), a_run(1, 0.4, None)])
    assert combined["eer_semi_informed"] is None
    assert combined["meets_targets"]["eer_semi_informed"] is None
    assert combined["spread"]["eer_semi_informed"] == [0.25, 0.25]


def test_draws_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="draws"):
        evaluate_draws([], McAdamsAnonymizer(), draws=0)


FOUR_CALLERS = r"WUWII00(000|008|049|074)_0(00|06|09|10)\."


@pytest.mark.corpus
def test_two_draws_of_real_clips_are_two_evaluations_averaged(corpus: Path) -> None:
    entries = read_manifest(
        corpus / "manifests" / "speakers.jsonl", require=("speaker",), pattern=FOUR_CALLERS
    )
    options = {"wer_filter": r"WUWII00000_006\.", "splits": 1}
    anonymizer = McAdamsAnonymizer(0.6, 0.9)
    combined = evaluate_draws(entries, anonymizer, draws=2, seed=3, **options)
    single = evaluate_draws(entries, anonymizer, draws=1, seed=4, **options)
    assert combined["seeds"] == [3, 4] and single["seed"] == 4
    assert combined["by_seed"][1]["eer_ignorant"] == single["eer_ignorant"]
    low, high = combined["spread"]["eer_ignorant"]
    assert low <= combined["eer_ignorant"] <= high
    assert len(combined["scores"]["ignorant"]["target"]) == 2 * single["n_target_trials"]
    for key in ("eer_ignorant", "eer_lazy_informed", "wer_rise"):
        low, high = combined["intervals"][key]
        assert low <= high, key
    assert combined["intervals"] != single["intervals"], "two draws: the mean's interval"


@pytest.mark.corpus
def test_real_clips_end_to_end(corpus: Path) -> None:
    entries = read_manifest(
        corpus / "manifests" / "speakers.jsonl",
        require=("speaker",),
        pattern=FOUR_CALLERS,
    )
    assert len(entries) == 16
    result = evaluate_draws(
        entries,
        McAdamsAnonymizer(0.7, 0.9),
        wer_filter=r"WUWII0000[08]_006\.",
        splits=2,
    )
    counts = ("n_speakers", "n_enrolled_speakers", "n_utterances")
    assert tuple(result[key] for key in counts) == (4, 4, 16)
    assert (result["n_target_trials"], result["n_nontarget_trials"]) == (8, 24)
    for key in (
        "eer_original",
        "eer_ignorant",
        "eer_lazy_informed",
        "eer_semi_informed",
        "wer_original",
        "wer_anonymized",
    ):
        assert 0.0 <= result[key] <= 1.0, key
    assert result["eer_original"] < 0.3, "unanonymized telephone speech is recognisable"
    assert 0.0 < result["rtf"] < 1.0
    assert result["wer"]["n"] == 2 and result["wer"]["reference_words"] > 20
    assert result["anonymizer"] == {
        "name": "mcadams",
        "alpha_low": 0.7,
        "alpha_high": 0.9,
        "order": 20,
    }
    legal = result["legal"]["lazy_informed"]
    assert legal["linkability"]["n_speakers"] == 4
    assert 0.0 <= legal["linkability"]["value"] <= 1.0
    assert legal["singling_out"]["n_speakers"] == 4
    assert 0.0 <= legal["singling_out"]["value"] <= 1.0
    assert legal["singling_out"]["chance"] == pytest.approx(math.exp(-1), abs=1e-6)
    assert set(result["meets_targets"]) == {
        "eer_ignorant",
        "eer_lazy_informed",
        "eer_semi_informed",
        "wer_rise",
    }


@dataclass
class _ListeningTranscriber:
    """Notes, for every clip it is given, whether it was an original (full level) or an
    anonymized one (:class:`_Halving` leaves half the level)."""

    order: list[str] = field(default_factory=list)

    def transcribe(self, samples: np.ndarray, sample_rate: int) -> Heard:
        self.order.append("original" if np.max(np.abs(samples)) > 0.6 else "anonymized")
        return Heard("hello world")


def test_the_originals_are_heard_before_any_anonymized_clip(tmp_path: Path) -> None:
    """Whisper's fallback draws from one seeded stream per run: originals heard first
    get the same draws whatever the anonymizer and its seed, so their WER is the same
    in every run."""
    entries = tone_speakers(tmp_path)
    transcriber = _ListeningTranscriber()
    cache = EvaluationCache(encoder=PitchEmbedder())
    cache.transcribers["tiny.en"] = cast(Transcriber, transcriber)
    result = evaluate_draws(entries, Halving(), wer_filter=None, splits=1, cache=cache)
    assert transcriber.order == ["original"] * 18 + ["anonymized"] * 18
    assert result["wer_original"] == result["wer_anonymized"] == 0.0


def test_clips_cut_from_one_file_are_measured_apart(tmp_path: Path) -> None:
    """The cache keys on the clip, not its file: the LibriSpeech readers' held-out set
    is three parts of one utterance per reader."""
    path = tmp_path / "reader.wav"
    phase = np.arange(24_000) / 8_000
    pitch = np.repeat([220.0, 330.0, 440.0], 8_000)
    sf.write(path, 0.8 * np.sin(2 * np.pi * pitch * phase), 8_000)
    entries = [
        ManifestEntry(part, path.name, path, 1.0, speaker="reader", offset=float(part))
        for part in range(3)
    ]
    cache = EvaluationCache(encoder=PitchEmbedder())
    evaluate_draws(entries, Halving(), wer_filter=None, splits=1, cache=cache)
    assert len(cache.embeddings) == 3
    peaks = {int(np.argmax(vector)) for vector in cache.embeddings.values()}
    assert peaks == {220 % 64, 330 % 64, 440 % 64}, "each part heard on its own"
