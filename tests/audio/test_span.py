"""Cutting one span out of a recording for a second listen."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from earmuff.audio.span import FADE_S, cut_span, cut_wav_span, wav_duration
from tests.audio_samples import tone, wav

RATE = 16_000


def test_the_span_holds_exactly_the_samples_between_start_and_end_with_faded_edges() -> None:
    samples = tone(3.0, RATE, seed=1)
    original = samples.copy()
    piece = cut_span(samples, RATE, 1.0, 1.5)
    ramp = round(FADE_S * RATE)
    assert len(piece) == RATE // 2
    np.testing.assert_array_equal(piece[ramp:-ramp], samples[RATE + ramp : RATE + RATE // 2 - ramp])
    assert piece[0] == 0.0 and abs(piece[-1]) < 1e-3
    assert np.all(np.abs(piece[:ramp]) <= np.abs(samples[RATE : RATE + ramp]) + 1e-7)
    np.testing.assert_array_equal(samples, original)


def test_a_very_short_span_fades_over_at_most_a_quarter_of_itself() -> None:
    samples = np.ones(RATE, dtype=np.float32)
    piece = cut_span(samples, RATE, 0.5, 0.52)
    assert len(piece) == 320
    assert piece[len(piece) // 2] == 1.0
    assert np.count_nonzero(piece < 1.0) <= len(piece) // 2


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (-0.1, 1.0, "0 <= start < end"),
        (1.0, 1.0, "0 <= start < end"),
        (2.0, 1.0, "0 <= start < end"),
        (2.5, 3.5, "the audio lasts 3.000 s"),
        (float("nan"), 1.0, "finite"),
        (0.0, float("inf"), "finite"),
        (1.0, 1.00001, "no whole sample"),
    ],
)
def test_a_span_outside_the_audio_is_refused(start: float, end: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cut_span(tone(3.0, RATE), RATE, start, end)


def test_a_span_a_rounding_error_past_the_end_is_cut_at_the_end() -> None:
    piece = cut_span(tone(3.0, RATE), RATE, 2.0, 3.0 + 0.5 / RATE)
    assert len(piece) == RATE


def test_wav_in_wav_out_keeps_the_rate_and_the_16_bit_samples() -> None:
    source = wav(4.0, 8_000, seed=3)
    span = cut_wav_span(source, 1.25, 2.25)
    assert wav_duration(source) == 4.0 and wav_duration(span) == 1.0
    decoded, rate = sf.read(io.BytesIO(span), dtype="int16")
    original, _ = sf.read(io.BytesIO(source), dtype="int16")
    assert rate == 8_000
    ramp = round(FADE_S * 8_000)
    np.testing.assert_array_equal(decoded[ramp:-ramp], original[10_000 + ramp : 18_000 - ramp])
