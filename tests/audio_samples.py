"""Audio files made in memory for tests: exact, tiny, and never written to disk."""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf


def tone(seconds: float = 1.0, rate: int = 16_000, channels: int = 1, seed: int = 0) -> np.ndarray:
    """A voice-like signal: a few harmonics plus noise, distinct per seed."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 40 * rng.random()
    signal = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    signal = 0.3 * signal / np.max(np.abs(signal)) + 0.01 * rng.standard_normal(len(t))
    if channels > 1:
        return np.stack([signal * (1 - 0.1 * c) for c in range(channels)], axis=1).astype(
            np.float32
        )
    return signal.astype(np.float32)


def voice(f0: float, rate: int, seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """A glottal-pulse-like source (harmonics falling off at 12 dB per octave) with a
    slow 3 % vibrato and a little noise: steady enough to have one true median."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 3 * t))) / rate
    harmonics = int(rate / 2 / (f0 * 1.05))
    signal = sum(np.sin(k * phase) / k**2 for k in range(1, harmonics))
    signal = 0.3 * signal / np.max(np.abs(signal)) + 0.003 * rng.standard_normal(len(t))
    return signal.astype(np.float32)


def encode(
    samples: np.ndarray, rate: int = 16_000, fmt: str = "WAV", subtype: str | None = None
) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def wav(seconds: float = 1.0, rate: int = 16_000, channels: int = 1, seed: int = 0) -> bytes:
    return encode(tone(seconds, rate, channels, seed), rate, "WAV", "PCM_16")


def float_wav_with(value: float, rate: int = 16_000) -> bytes:
    samples = tone(0.5, rate)
    samples[100] = value
    return encode(samples, rate, "WAV", "FLOAT")


def wav_declaring(data_bytes: int, actual: bytes) -> bytes:
    """A PCM WAV whose header promises ``data_bytes`` of audio but carries ``actual``."""
    fmt = struct.pack("<HHIIHH", 1, 1, 16_000, 32_000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", data_bytes) + actual
    return b"RIFF" + struct.pack("<I", len(body)) + body
