"""Decoding of untrusted audio, and the one format earmuff stores.

An upload is judged before it is trusted: its container is recognised by its magic
bytes, its header's promises (length, rate, channels) are checked against the bytes
that are really there, and its duration is bounded *before* the samples are decoded,
so a small file cannot expand into gigabytes. libsndfile decodes first; PyAV (FFmpeg)
is the fallback for FLAC and Ogg streams libsndfile rejects ("lost sync") although
they are valid.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
import soundfile as sf

from earmuff.config import IngestLimits

FORMATS = ("wav", "flac", "ogg")
"""What an upload may be."""
ANY_FORMAT = (*FORMATS, "mp3")
"""What a copy found outside may be: a leaked stream is often re-encoded to MP3."""


class AudioError(ValueError):
    """The bytes are not audio earmuff accepts. ``code`` is stable for API clients."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray[Any, np.dtype[np.float32]]
    """Mono samples in [-1, 1]; a multi-channel upload is averaged down."""
    sample_rate: int
    channels: int
    format: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def sniff_format(data: bytes | bytearray) -> str:
    """The container named by the file's magic bytes, never by what the client claims."""
    if len(data) >= 12 and data[:4] in (b"RIFF", b"RF64") and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3" or (len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    raise _unsupported()


def _unsupported(accept: tuple[str, ...] = FORMATS) -> AudioError:
    allowed = (
        "WAV, FLAC, Ogg (Vorbis/Opus/FLAC) or MP3"
        if "mp3" in accept
        else ("WAV, FLAC or Ogg (Vorbis/Opus/FLAC)")
    )
    return AudioError("unsupported_format", f"audio must be {allowed}", status=415)


def decode_audio(
    data: bytes | bytearray, limits: IngestLimits, accept: tuple[str, ...] = FORMATS
) -> DecodedAudio:
    """Decode ``data`` to mono float32, or raise :class:`AudioError` saying what is wrong.

    ``accept`` names the containers allowed; anything else is refused as unsupported.
    """
    if not data:
        raise AudioError("empty_audio", "the audio file is empty", status=400)
    try:
        fmt = sniff_format(data)
    except AudioError:
        raise _unsupported(accept) from None
    if fmt not in accept:
        raise _unsupported(accept)
    decoded: tuple[np.ndarray, int, int] | None = None
    if fmt == "wav":
        decoded = _decode_pcm16_wav(data, _read_wav_layout(data), limits)
    if fmt == "flac":
        _check_flac_has_frames(data)
    if decoded is None:
        try:
            decoded = _decode_with_libsndfile(data, limits)
        except AudioError:
            raise
        except Exception as exc:
            if fmt == "wav":
                raise AudioError(
                    "undecodable_audio", f"the WAV file cannot be decoded: {exc}"
                ) from exc
            decoded = _decode_with_ffmpeg(data, fmt, limits)
    frames, rate, channels = decoded
    if fmt == "flac":
        declared = _flac_declared_frames(data)
        if declared and len(frames) < declared:
            raise AudioError(
                "truncated_audio",
                f"the FLAC header promises {declared} frames but only {len(frames)} are present",
            )
    if len(frames) == 0:
        raise AudioError("empty_audio", "the audio contains no samples")
    if not np.isfinite(frames).all():
        raise AudioError("invalid_samples", "the audio contains NaN or infinite samples")
    np.clip(frames, -1.0, 1.0, out=frames)  # float audio past full scale cannot overflow below
    mono = frames.mean(axis=1, dtype=np.float32) if frames.shape[1] > 1 else frames[:, 0]
    return DecodedAudio(
        samples=np.ascontiguousarray(mono, dtype=np.float32),
        sample_rate=rate,
        channels=channels,
        format=fmt,
    )


def encode_wav(samples: np.ndarray[Any, np.dtype[np.float32]], sample_rate: int) -> bytes:
    """Mono 16-bit PCM WAV, the one form earmuff stores.

    Samples are scaled by 2**15, the inverse of how 16-bit audio is decoded, so a 16-bit
    upload is stored bit-exact. PCM rather than FLAC: encoding FLAC cost more CPU than
    everything else an upload does, and the stored form is sealed and short-lived.
    """
    pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2").tobytes()
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(pcm),
        b"WAVE",
        b"fmt ",
        16,
        _WAVE_FORMAT_PCM,
        1,
        sample_rate,
        2 * sample_rate,
        2,
        16,
        b"data",
        len(pcm),
    )
    return header + pcm


def _check_limits(rate: int, channels: int, frames: int, limits: IngestLimits) -> None:
    if not limits.min_sample_rate <= rate <= limits.max_sample_rate:
        raise AudioError(
            "unsupported_sample_rate",
            f"sample rate {rate} Hz is outside "
            f"{limits.min_sample_rate}-{limits.max_sample_rate} Hz",
        )
    if not 1 <= channels <= limits.max_channels:
        raise AudioError("unsupported_channels", f"{channels} channels is not supported")
    if frames > limits.max_duration_s * rate:
        raise AudioError(
            "audio_too_long",
            f"the audio lasts {frames / rate:.1f} s; at most {limits.max_duration_s:g} s "
            "is accepted",
            status=413,
        )


def _decode_with_libsndfile(
    data: bytes | bytearray, limits: IngestLimits
) -> tuple[np.ndarray, int, int]:
    with sf.SoundFile(io.BytesIO(data)) as handle:
        rate, channels = int(handle.samplerate), int(handle.channels)
        _check_limits(rate, channels, int(handle.frames), limits)
        frames = handle.read(dtype="float32", always_2d=True)
    return frames, rate, channels


def _decode_with_ffmpeg(
    data: bytes | bytearray, fmt: str, limits: IngestLimits
) -> tuple[np.ndarray, int, int]:
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), format=fmt, mode="r") as container:
            if not container.streams.audio:
                raise AudioError("undecodable_audio", "the file holds no audio stream")
            stream = container.streams.audio[0]
            rate, channels = int(stream.rate or 0), int(stream.channels or 0)
            _check_limits(rate, channels, 0, limits)
            for chunk in _ffmpeg_chunks(container, stream, channels):
                total += len(chunk)
                _check_limits(rate, channels, total, limits)
                chunks.append(chunk)
    except AudioError:
        raise
    except Exception as exc:
        if total:
            raise AudioError(
                "truncated_audio", f"the {fmt} stream breaks off after {total} frames: {exc}"
            ) from exc
        raise AudioError("undecodable_audio", f"the {fmt} file cannot be decoded: {exc}") from exc
    if not chunks:
        return np.zeros((0, channels), dtype=np.float32), rate, channels
    return np.concatenate(chunks), rate, channels


_SCALE = {"s16": 2**15, "s16p": 2**15, "s32": 2**31, "s32p": 2**31, "u8": 2**7, "u8p": 2**7}


def _ffmpeg_chunks(container: Any, stream: Any, channels: int) -> Iterator[np.ndarray]:
    for frame in container.decode(stream):
        array = frame.to_ndarray()
        name = frame.format.name
        array = array.T if frame.format.is_planar else array.reshape(-1, channels)
        if name.startswith("u8"):
            array = array.astype(np.float32) - 128
        scale = _SCALE.get(name, 1)
        yield (array.astype(np.float32) / scale).astype(np.float32)


_WAVE_FORMAT_PCM = 1


@dataclass(frozen=True)
class _WavLayout:
    format_tag: int
    channels: int
    sample_rate: int
    bits: int
    block_align: int
    data_offset: int
    data_size: int


def _read_wav_layout(data: bytes | bytearray) -> _WavLayout | None:
    """Walk the RIFF chunks; refuse a WAV whose header promises more audio than it holds.

    Returns None for RF64 and for a ``fmt `` chunk this parser does not read, leaving
    those to libsndfile.
    """
    if data[:4] == b"RF64":
        return None
    offset = 12
    fmt: tuple[int, ...] | None = None
    while offset + 8 <= len(data):
        chunk_id = data[offset : offset + 4]
        (size,) = struct.unpack_from("<I", data, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt " and size >= 16 and body + 16 <= len(data):
            fmt = struct.unpack_from("<HHIIHH", data, body)
        if chunk_id == b"data":
            if body + size > len(data):
                raise AudioError(
                    "truncated_audio",
                    f"the WAV header promises {size} bytes of audio but only "
                    f"{len(data) - body} are present",
                )
            if fmt is None:
                return None
            tag, channels, rate, _byte_rate, block_align, bits = fmt
            return _WavLayout(tag, channels, rate, bits, block_align, body, size)
        offset = body + size + (size & 1)
    raise AudioError("undecodable_audio", "the WAV file has no data chunk")


def _decode_pcm16_wav(
    data: bytes | bytearray, layout: _WavLayout | None, limits: IngestLimits
) -> tuple[np.ndarray, int, int] | None:
    """Plain 16-bit PCM, what devices send, read straight from the bytes.

    Any other layout (float, 24-bit, extensible, a frame cut in half) returns None and
    goes to libsndfile.
    """
    if layout is None or layout.format_tag != _WAVE_FORMAT_PCM or layout.bits != 16:
        return None
    channels = layout.channels
    if channels < 1 or layout.block_align != 2 * channels or layout.data_size % (2 * channels):
        return None
    _check_limits(layout.sample_rate, channels, layout.data_size // (2 * channels), limits)
    pcm = np.frombuffer(data, "<i2", count=layout.data_size // 2, offset=layout.data_offset)
    frames = pcm.reshape(-1, channels).astype(np.float32) / np.float32(32768.0)
    return frames, layout.sample_rate, channels


def _check_flac_has_frames(data: bytes | bytearray) -> None:
    """Refuse a FLAC file that ends inside or right after its metadata blocks."""
    offset = 4
    while True:
        if offset + 4 > len(data):
            raise AudioError("truncated_audio", "the FLAC file ends inside its header")
        header = data[offset]
        offset += 4 + int.from_bytes(data[offset + 1 : offset + 4], "big")
        if header & 0x80:
            break
    if offset >= len(data):
        raise AudioError("truncated_audio", "the FLAC file ends before its first audio frame")


def _flac_declared_frames(data: bytes | bytearray) -> int:
    """Total samples from STREAMINFO (0 means the encoder did not know)."""
    if len(data) < 8 + 18:
        return 0
    packed = int.from_bytes(data[8 + 10 : 8 + 18], "big")
    return packed & ((1 << 36) - 1)
