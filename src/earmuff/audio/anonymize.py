"""Voice anonymization: make the speaker unrecognisable, keep the words.

The McAdams transformation (VoicePrivacy Challenge baseline B2) moves every formant: in
each 20 ms frame the linear-prediction poles' angles are raised to a power ``alpha``
(below 1 pushes low formants up and high ones down), and the frame is resynthesised
from its own residual through the warped filter. A new ``alpha`` is drawn for every
item, so two clips of one speaker do not share a voice either.

Everything is vectorised across frames (LPC by Levinson-Durbin over the whole frame
matrix, poles as eigenvalues of stacked companion matrices); only the all-pole
synthesis filter runs frame by frame, in C.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import lfilter

Samples = np.ndarray[Any, np.dtype[np.float32]]


class Anonymizer(Protocol):
    @property
    def name(self) -> str: ...

    def anonymize(self, samples: Samples, sample_rate: int, rng: np.random.Generator) -> Samples:
        """Return anonymized audio of the same length and rate."""
        ...


@dataclass(frozen=True)
class McAdamsAnonymizer:
    alpha_low: float = 0.5
    alpha_high: float = 0.9
    order: int = 20
    name: str = "mcadams"

    def anonymize(self, samples: Samples, sample_rate: int, rng: np.random.Generator) -> Samples:
        alpha = float(rng.uniform(self.alpha_low, self.alpha_high))
        return mcadams(samples, sample_rate, alpha, self.order)


def mcadams(
    samples: Samples, sample_rate: int, alpha: float, order: int = 20, frame_s: float = 0.02
) -> Samples:
    """Warp the pole angles of every frame's LPC filter by ``angle ** alpha``."""
    frame = round(frame_s * sample_rate)
    hop = frame // 2
    if len(samples) == 0:
        return samples.astype(np.float32)
    window = np.sqrt(np.hanning(frame + 1)[:-1])  # analysis x synthesis = Hann: sums to 1
    padded = np.pad(samples.astype(np.float64), (frame, frame + hop))
    frames = sliding_window_view(padded, frame)[::hop] * window
    a = lpc(frames, order)
    residual = _fir_rows(a, frames)
    warped = _warp_poles(a, alpha)
    out = np.zeros(len(padded))
    for index, (coefficients, excitation) in enumerate(zip(warped, residual, strict=True)):
        start = index * hop
        out[start : start + frame] += lfilter([1.0], coefficients, excitation) * window
    result = out[frame : frame + len(samples)]
    peak_in, peak_out = np.max(np.abs(samples)), np.max(np.abs(result))
    if peak_out > 0:
        result *= min(peak_in / peak_out, 1.0 / peak_out)
    return result.astype(np.float32)


def lpc(frames: np.ndarray, order: int) -> np.ndarray:
    """LPC coefficients ``[1, a1..ap]`` of every row, by autocorrelation + Levinson-Durbin."""
    n = frames.shape[1]
    spectrum = np.fft.rfft(frames, 2 * n)
    r = np.fft.irfft(np.abs(spectrum) ** 2)[:, : order + 1]
    r[:, 0] = r[:, 0] * (1 + 1e-9) + 1e-12
    a = np.zeros((len(frames), order + 1))
    a[:, 0] = 1.0
    error = r[:, 0].copy()
    for i in range(1, order + 1):
        k = -(a[:, :i] * r[:, i:0:-1]).sum(axis=1) / error
        a[:, 1 : i + 1] = a[:, 1 : i + 1] + k[:, None] * a[:, i - 1 :: -1][:, :i]
        error *= 1.0 - k**2
    return a


def _fir_rows(a: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Filter each frame by its own FIR ``a`` (the LPC inverse filter), truncated to the frame."""
    n = frames.shape[1]
    size = n + a.shape[1]
    product = np.fft.rfft(frames, size) * np.fft.rfft(a, size)
    return np.fft.irfft(product, size)[:, :n]


def _warp_poles(a: np.ndarray, alpha: float) -> np.ndarray:
    """Raise the angle of every complex pole to ``alpha``; real poles stay."""
    order = a.shape[1] - 1
    companion = np.zeros((len(a), order, order))
    companion[:, 0, :] = -a[:, 1:]
    companion[:, np.arange(1, order), np.arange(order - 1)] = 1.0
    poles = np.linalg.eigvals(companion)
    angles = np.angle(poles)
    complex_pole = np.abs(poles.imag) > 1e-10
    warped_angles = np.where(complex_pole, np.sign(angles) * np.abs(angles) ** alpha, angles)
    warped = np.abs(poles) * np.exp(1j * warped_angles)
    coefficients = np.ones((len(a), 1), dtype=complex)
    for pole in warped.T:
        coefficients = np.concatenate(
            [coefficients, np.zeros((len(a), 1))], axis=1
        ) - np.concatenate([np.zeros((len(a), 1)), coefficients * pole[:, None]], axis=1)
    return np.real(coefficients)
