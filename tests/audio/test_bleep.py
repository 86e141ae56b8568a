"""Bleeping: inside a span nothing of the speech remains, outside nothing changes."""

from __future__ import annotations

import numpy as np

from earmuff.audio.bleep import bleep, merge_spans
from tests.audio_samples import tone

RATE = 16_000


def test_spans_are_padded_clipped_and_merged() -> None:
    spans = [(0.05, 0.2), (0.25, 0.4), (1.0, 1.1), (1.9, 2.5), (0.7, 0.7)]
    assert merge_spans(spans, pad_s=0.1, duration_s=2.0) == [
        (0.0, 0.5),
        (0.9, 1.2000000000000002),
        (1.7999999999999998, 2.0),
    ]


def test_no_original_sample_survives_inside_a_span_and_none_changes_outside() -> None:
    speech = tone(2.0, RATE, seed=3)
    out = bleep(speech, RATE, [(0.5, 0.8)], pad_s=0.1)
    start, end = int(0.4 * RATE), int(0.9 * RATE)
    fade = int(0.005 * RATE)
    inside = out[start:end]
    reference = 0.2 * np.sin(2 * np.pi * 1000 * np.arange(start, end) / RATE)
    assert np.allclose(inside, reference, atol=1e-6), "pure tone, no speech mixed in"
    assert np.array_equal(out[: start - fade], speech[: start - fade])
    assert np.array_equal(out[end + fade :], speech[end + fade :])


def test_the_edges_fade_instead_of_clicking() -> None:
    speech = np.zeros(RATE, dtype=np.float32)
    out = bleep(speech, RATE, [(0.4, 0.6)], pad_s=0.0)
    assert np.max(np.abs(np.diff(out))) < 0.2 * 2 * np.pi * 1000 / RATE * 1.01


def test_no_spans_returns_an_unchanged_copy() -> None:
    speech = tone(0.5, RATE)
    out = bleep(speech, RATE, [])
    assert np.array_equal(out, speech) and out is not speech
