"""A clip's median pitch: right on voices of known pitch, silent on what has none."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from earmuff.audio.pitch import median_pitch
from earmuff.evaluate.manifest import load_audio
from tests.audio_samples import voice


@pytest.mark.parametrize("rate", [8_000, 16_000, 44_100])
@pytest.mark.parametrize("f0", [75.0, 110.0, 190.0, 320.0])
def test_the_median_pitch_of_a_steady_voice_is_its_fundamental(rate: int, f0: float) -> None:
    found = median_pitch(voice(f0, rate), rate)
    assert found is not None
    assert abs(found / f0 - 1) < 0.03


def test_a_telephone_voice_without_its_fundamental_still_has_its_pitch() -> None:
    """The telephone band starts near 300 Hz: a man's 110 Hz survives only as the spacing
    of his harmonics, which is what a period measures."""
    from scipy.signal import butter, sosfilt

    rate = 8_000
    band = butter(6, [300, 3400], btype="bandpass", fs=rate, output="sos")
    found = median_pitch(sosfilt(band, voice(110.0, rate)).astype(np.float32), rate)
    assert found is not None
    assert abs(found / 110.0 - 1) < 0.03


def test_what_has_no_pitch_has_none() -> None:
    rate = 16_000
    rng = np.random.default_rng(3)
    assert median_pitch(np.zeros(rate, dtype=np.float32), rate) is None
    assert median_pitch((0.1 * rng.standard_normal(rate)).astype(np.float32), rate) is None
    assert median_pitch(voice(120.0, rate)[:200], rate) is None


def test_clips_of_one_caller_agree_and_low_and_high_voices_fall_apart(corpus: Path) -> None:
    """On real telephone speech: each caller's clips give nearly the same pitch, and the
    lowest and highest callers' pitches are far apart."""
    entries = [
        json.loads(line)
        for line in (corpus / "manifests" / "speakers.jsonl").read_text().splitlines()
    ]
    by_speaker: dict[str, list[float]] = {}
    for entry in entries:
        if not entry["speaker"].startswith("wuw"):
            continue
        samples, rate = load_audio(corpus / entry["audio_filepath"])
        pitch = median_pitch(samples, rate)
        assert pitch is not None, entry["audio_filepath"]
        by_speaker.setdefault(entry["speaker"], []).append(pitch)
    spreads = [np.log2(max(p) / min(p)) for p in by_speaker.values() if len(p) > 1]
    assert np.median(spreads) < 0.35
    medians = sorted(float(np.median(p)) for p in by_speaker.values())
    assert medians[-1] / medians[0] > 1.8
