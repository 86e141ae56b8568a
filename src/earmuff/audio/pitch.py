"""A clip's typical pitch, for anonymizers that move each voice towards the middle.

YIN (de Cheveigné & Kawahara, 2002) over short frames, vectorised across frames: the
difference function comes from one FFT cross-correlation per frame, and each frame's
period is the first lag where the cumulative-mean-normalised difference dips under a
threshold. Only the median over a clip's voiced frames is wanted, so there is no
smoothing or octave tracking: the median already ignores the odd octave error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Samples = np.ndarray[Any, np.dtype[np.float32]]

LOWEST_HZ = 60.0
HIGHEST_HZ = 400.0
FRAME_S = 0.04
HOP_S = 0.01
THRESHOLD = 0.15
"""YIN's absolute threshold on the normalised difference: below it, a lag is a period."""

VOICED = 0.35
"""Frames whose best normalised difference stays above this are unvoiced or noise."""

MIN_VOICED_FRAMES = 5


def median_pitch(samples: Samples, sample_rate: int) -> float | None:
    """The median fundamental frequency, in Hz, of the clip's voiced frames among its
    louder half, or None when fewer than ``MIN_VOICED_FRAMES`` frames are voiced."""
    frame = round(FRAME_S * sample_rate)
    hop = round(HOP_S * sample_rate)
    shortest = max(2, int(sample_rate / HIGHEST_HZ))
    longest = int(np.ceil(sample_rate / LOWEST_HZ))
    width = frame - longest
    if width <= 0 or len(samples) < frame:
        return None
    frames = sliding_window_view(np.asarray(samples, dtype=np.float64), frame)[::hop]
    frames = frames - frames.mean(axis=1, keepdims=True)
    energy = np.einsum("ij,ij->i", frames, frames)
    loud = energy > max(np.median(energy), 1e-12)
    if np.count_nonzero(loud) < MIN_VOICED_FRAMES:
        return None
    frames = frames[loud]
    difference = _difference(frames, width, longest)
    lags = np.arange(1, longest + 1)
    normalised = difference[:, 1:] * lags / np.maximum(np.cumsum(difference[:, 1:], axis=1), 1e-12)
    candidates = normalised[:, shortest - 1 :]
    below = candidates < THRESHOLD
    first = np.where(below.any(axis=1), below.argmax(axis=1), candidates.argmin(axis=1))
    # walk down to the bottom of the dip the threshold found
    for _ in range(longest):
        step = np.minimum(first + 1, candidates.shape[1] - 1)
        lower = candidates[np.arange(len(first)), step] < candidates[np.arange(len(first)), first]
        if not lower.any():
            break
        first = np.where(lower, step, first)
    best = candidates[np.arange(len(first)), first]
    voiced = best < VOICED
    if np.count_nonzero(voiced) < MIN_VOICED_FRAMES:
        return None
    periods = first[voiced] + shortest
    return float(np.median(sample_rate / periods))


def _difference(frames: np.ndarray, width: int, longest: int) -> np.ndarray:
    """YIN's squared difference d(lag) for lags 0..longest of every frame, over a window
    of ``width`` samples: energies from running sums, the cross term from one FFT."""
    size = 1 << int(np.ceil(np.log2(frames.shape[1] + width)))
    head = frames[:, :width]
    cross = np.fft.irfft(np.fft.rfft(frames, size) * np.conj(np.fft.rfft(head, size)), size)[
        :, : longest + 1
    ]
    squares = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
    lags = np.arange(longest + 1)
    shifted = squares[:, lags + width] - squares[:, lags]
    return np.asarray(np.maximum(shifted[:, :1] + shifted - 2.0 * cross, 0.0))
