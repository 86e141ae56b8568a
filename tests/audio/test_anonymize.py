"""McAdams anonymization: formants move, length and loudness stay, and it is fast."""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from earmuff.audio.anonymize import McAdamsAnonymizer, lpc, mcadams
from tests.audio_samples import tone

RATE = 16_000


def test_lpc_recovers_the_coefficients_of_a_known_all_pole_filter() -> None:
    rng = np.random.default_rng(0)
    true = np.array([1.0, -1.3, 0.8, -0.2])
    signal = lfilter([1.0], true, rng.standard_normal(20_000))
    estimated = lpc(signal[None, :], 3)[0]
    assert np.allclose(estimated, true, atol=0.02)


def test_alpha_one_changes_almost_nothing() -> None:
    speech = tone(1.0, RATE, seed=2)
    same = mcadams(speech, RATE, alpha=1.0)
    error = np.sqrt(np.mean((same - speech) ** 2)) / np.sqrt(np.mean(speech**2))
    assert error < 0.01


def spectral_centroid(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    freqs = np.fft.rfftfreq(len(samples), 1 / RATE)
    return float((spectrum * freqs).sum() / spectrum.sum())


def test_a_strong_alpha_moves_the_spectrum_and_keeps_length_and_level() -> None:
    speech = tone(2.0, RATE, seed=5)
    changed = mcadams(speech, RATE, alpha=0.6)
    assert changed.shape == speech.shape and changed.dtype == np.float32
    assert np.max(np.abs(changed)) <= np.max(np.abs(speech)) + 1e-6
    assert abs(spectral_centroid(changed) - spectral_centroid(speech)) > 100


def test_each_item_draws_its_own_alpha_from_the_configured_range() -> None:
    speech = tone(1.0, RATE, seed=1)
    anonymizer = McAdamsAnonymizer(0.5, 0.9)
    first = anonymizer.anonymize(speech, RATE, np.random.default_rng(1))
    again = anonymizer.anonymize(speech, RATE, np.random.default_rng(1))
    other = anonymizer.anonymize(speech, RATE, np.random.default_rng(2))
    assert np.array_equal(first, again)
    assert not np.allclose(first, other)
