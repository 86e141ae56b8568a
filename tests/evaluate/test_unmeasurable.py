"""A clip no attacker can measure (a 2 ms telephone fragment, a silent clip) is counted,
named and left out: never fatal, never a warning, never a NaN among the scores. And the
semi-informed attacker learns only from speakers it is not tested on."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from earmuff.evaluate import anonymization
from earmuff.evaluate.anonymization import (
    EvaluationCache,
    UnmeasurableClip,
    checked_embedding,
    evaluate_draws,
    semi_informed_attacks,
    summary_lines,
)
from earmuff.evaluate.manifest import ManifestEntry, load_audio, read_manifest
from tests.evaluate.fakes import Halving, PitchEmbedder, tone_speakers

FRAGMENT = "fragment.wav"


@pytest.fixture(scope="module")
def cache() -> EvaluationCache:
    """The standard attacker with resemblyzer as a second opinion, loaded once."""
    return EvaluationCache(threads=1, attacker="campplus", second_opinions=("resemblyzer",))


def fragment(corpus: Path, folder: Path) -> ManifestEntry:
    """2 ms cut from a real telephone call (16 samples at 8 kHz), as a file of its own."""
    [call] = read_manifest(
        corpus / "manifests" / "speakers.jsonl", require=("speaker",), pattern=r"WUWII00074_009\."
    )
    samples, rate = load_audio(call.path)
    start = int(np.argmax(np.abs(samples)))
    sf.write(folder / FRAGMENT, samples[start : start + rate // 500], rate)
    return ManifestEntry(0, FRAGMENT, folder / FRAGMENT, 0.002, speaker=call.speaker)


@pytest.mark.corpus
@pytest.mark.parametrize("attacker", ["campplus", "campplus-cn", "resemblyzer"])
def test_every_attacker_refuses_a_2_ms_fragment_without_a_warning(
    corpus: Path, tmp_path: Path, attacker: str
) -> None:
    samples, rate = load_audio(fragment(corpus, tmp_path).path)
    assert len(samples) == 16 and np.any(samples)
    encoder = anonymization.speaker_embedder(attacker, threads=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(UnmeasurableClip, match="too short"):
            checked_embedding(encoder, samples, rate)
        with pytest.raises(UnmeasurableClip, match="silent"):
            checked_embedding(encoder, np.zeros(rate, dtype=np.float32), rate)


@pytest.mark.corpus
def test_a_fragment_among_real_calls_is_left_out_counted_and_named(
    corpus: Path, tmp_path: Path, cache: EvaluationCache
) -> None:
    calls = read_manifest(
        corpus / "manifests" / "speakers.jsonl",
        require=("speaker",),
        pattern=r"WUWII00(074_00[079]|260_0(00|08|10))\.",
    )
    assert len(calls) == 6, "two callers' three shortest clips"
    lines = [{"audio_filepath": c.audio_filepath, "speaker": c.speaker} for c in calls]
    cut = fragment(corpus, tmp_path)
    lines.insert(2, {"audio_filepath": str(cut.path), "speaker": cut.speaker})
    manifest = tmp_path / "with_a_fragment.jsonl"
    manifest.write_text("".join(json.dumps({**line, "duration": 1.0}) + "\n" for line in lines))
    entries = read_manifest(manifest, corpus, require=("speaker",))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        result = evaluate_draws(entries, Halving(), splits=1, cache=cache, replicates=20)
    assert result["unmeasured"]["count"] == 1
    [left_out] = result["unmeasured"]["clips"]
    assert left_out["clip"] == str(cut.path) and left_out["audio"] == "original"
    assert "too short" in left_out["reason"]
    assert result["n_utterances"] == 6
    assert list(result["attackers"]) == ["campplus", "resemblyzer"]
    for figures in result["attackers"].values():
        assert figures["eer_original"] is not None
        scores: dict[str, Any] = figures["scores"]
        assert all(np.all(np.isfinite(side)) for pair in scores.values() for side in pair.values())
    summary = "\n".join(summary_lines(result))
    assert f"left out 1 clip(s) no attacker could measure: {cut.path}" in summary
    assert "second opinion resemblyzer" in summary


def test_a_clip_unmeasurable_in_one_draw_leaves_every_draw(tmp_path: Path) -> None:
    """Averaged draws must be figures on the same trials."""

    @dataclass
    class LosesOneClipInTheSecondDraw(PitchEmbedder):
        """The originals are heard (and cached) in the first draw: its 40th call is the
        second draw's fourth anonymized clip."""

        calls: int = 0

        def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
            self.calls += 1
            if self.calls == 40:
                raise UnmeasurableClip("cannot hear this one")
            return super().embed(samples, sample_rate)

    entries = [replace(entry, text=None) for entry in tone_speakers(tmp_path)]
    cache = EvaluationCache(encoder=LosesOneClipInTheSecondDraw())
    result = evaluate_draws(entries, Halving(), draws=2, splits=1, cache=cache, replicates=20)
    assert result["unmeasured"] == {
        "count": 1,
        "clips": [
            {
                "clip": "1_0.wav",
                "speaker": "1",
                "attacker": "campplus",
                "audio": "anonymized",
                "seed": 1,
                "reason": "cannot hear this one",
            }
        ],
    }
    assert result["n_utterances"] == len(entries) - 1
    for run in result["by_seed"]:
        assert len(run["semi_informed"]["eer_by_split"]) <= 1


def test_the_semi_informed_attacker_learns_only_from_other_speakers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sklearn import discriminant_analysis

    learned: list[set[str]] = []
    real = discriminant_analysis.LinearDiscriminantAnalysis

    class Watched(real):  # type: ignore[misc, valid-type]
        def fit(self, x: Any, y: Any) -> Any:
            learned.append(set(y))
            return super().fit(x, y)

    monkeypatch.setattr(discriminant_analysis, "LinearDiscriminantAnalysis", Watched)
    rng = np.random.default_rng(0)
    speakers = [f"s{s}" for s in range(12) for _ in range(4)]
    embeddings = rng.normal(size=(len(speakers), 8)) + np.repeat(rng.normal(size=(12, 8)), 4, 0)
    attacks = semi_informed_attacks(embeddings, speakers, splits=4, seed=0)
    assert len(learned) == 4 and attacks
    for trained, (_, tested) in zip(learned, attacks, strict=True):
        assert trained.isdisjoint(tested.speakers) and trained.isdisjoint(tested.trial_speakers)
