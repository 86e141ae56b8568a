"""What happens to a stream between a reviewer's browser and a chat room: re-encoding,
a telephone, a cut. The watermark is measured against each of these.

The encoders run in-process: MP3 through PyAV's LAME at a constant 64 kbit/s, Vorbis
through libsndfile at quality 0.8 (about 64 kbit/s on 16 kHz speech; Vorbis spends
fewer bits on 8 kHz audio, about 40 kbit/s, which makes that condition harsher, not
easier). The phone is a round trip through 8 kHz with white or pink noise added at 20
dB below the speech.
"""

from __future__ import annotations

import io
from math import gcd
from typing import Any, Literal

import av
import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

Samples = np.ndarray[Any, np.dtype[np.float32]]
NoiseColour = Literal["white", "pink"]

MP3_BITRATE = 64_000
VORBIS_COMPRESSION = 0.2
"""libsndfile's compression level: 0.2 is Vorbis quality 0.8."""
PHONE_RATE = 8_000


def mp3(samples: Samples, rate: int, bitrate: int = MP3_BITRATE) -> tuple[Samples, int]:
    """Encode to constant-bitrate MP3 and decode back; also the size in bytes."""
    buffer = io.BytesIO()
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
    with av.open(buffer, "w", format="mp3") as container:
        stream = container.add_stream("libmp3lame", rate=rate)
        stream.bit_rate = bitrate
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in (*stream.encode(frame), *stream.encode(None)):
            container.mux(packet)
    data = buffer.getvalue()
    return _decoded(data, len(samples)), len(data)


def ogg_vorbis(samples: Samples, rate: int) -> tuple[Samples, int]:
    """Encode to Ogg Vorbis and decode back; also the size in bytes."""
    buffer = io.BytesIO()
    sf.write(
        buffer, samples, rate, format="OGG", subtype="VORBIS", compression_level=VORBIS_COMPRESSION
    )
    data = buffer.getvalue()
    return _decoded(data, len(samples)), len(data)


def phone(
    samples: Samples,
    rate: int,
    rng: np.random.Generator,
    colour: NoiseColour = "white",
    snr_db: float = 20.0,
) -> Samples:
    """Down to 8 kHz, noise at ``snr_db`` below the speech's power, and back up."""
    narrow = _resample(samples.astype(np.float64), rate, PHONE_RATE)
    noise = rng.standard_normal(len(narrow)) if colour == "white" else _pink(len(narrow), rng)
    noise *= np.sqrt(np.mean(narrow**2) / np.mean(noise**2) / 10 ** (snr_db / 10))
    back = _resample(narrow + noise, PHONE_RATE, rate)
    back = np.pad(back, (0, max(0, len(samples) - len(back))))[: len(samples)]
    return np.clip(back, -1.0, 1.0).astype(np.float32)


def excerpt(samples: Samples, rate: int, seconds: float, rng: np.random.Generator) -> Samples:
    """``seconds`` of audio from a random sample offset (the whole clip if shorter)."""
    length = round(seconds * rate)
    if len(samples) <= length:
        return samples
    start = int(rng.integers(0, len(samples) - length + 1))
    return samples[start : start + length]


def _pink(length: int, rng: np.random.Generator) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Noise whose power falls 3 dB per octave: white noise shaped by 1/sqrt(f)."""
    spectrum = np.fft.rfft(rng.standard_normal(length))
    frequencies = np.fft.rfftfreq(length)
    frequencies[0] = frequencies[1] if length > 1 else 1.0
    shaped: np.ndarray[Any, np.dtype[np.float64]] = np.fft.irfft(
        spectrum / np.sqrt(frequencies), length
    )
    return shaped


def _decoded(data: bytes, length: int) -> Samples:
    decoded, _rate = sf.read(io.BytesIO(data), dtype="float32")
    mono = decoded.mean(axis=1) if decoded.ndim > 1 else decoded
    out: Samples = np.pad(mono, (0, max(0, length - len(mono))))[:length].astype(np.float32)
    return out


def _resample(
    signal: np.ndarray[Any, np.dtype[np.float64]], rate: int, target: int
) -> np.ndarray[Any, np.dtype[np.float64]]:
    if rate == target:
        return signal
    common = gcd(rate, target)
    return np.asarray(resample_poly(signal, target // common, rate // common), dtype=np.float64)
