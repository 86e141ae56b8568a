"""Stand-ins for the evaluation's models, for tests that check its bookkeeping: a voice
is a tone, the attacker hears its frequency, and the anonymizer only halves the level."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from earmuff.evaluate.manifest import ManifestEntry


@dataclass
class Heard:
    text: str


@dataclass(frozen=True)
class Halving:
    name: str = "halving"

    def anonymize(self, samples: np.ndarray, sample_rate: int, rng: np.random.Generator) -> Any:
        return samples * 0.5


@dataclass
class PitchEmbedder:
    """The strongest frequency, one-hot, plus a little noise fixed by the clip's bytes
    (two clips of one tone differ, so an LDA can fit a spread within a speaker)."""

    version: str = "strongest frequency"

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        peak = int(np.argmax(np.abs(np.fft.rfft(samples))))
        noise = np.random.default_rng(zlib.crc32(samples.tobytes())).normal(0.0, 0.1, 64)
        return np.asarray(np.eye(64)[peak % 64] + noise)


def tone_speakers(folder: Path, speakers: int = 6, clips: int = 3) -> list[ManifestEntry]:
    """``clips`` one-second tones for each of ``speakers`` voices (200 Hz, 240 Hz, ...),
    each clip at its own phase, all saying "hello world"."""
    entries: list[ManifestEntry] = []
    for speaker in range(speakers):
        for clip in range(clips):
            path = folder / f"{speaker}_{clip}.wav"
            phase = np.arange(8000) / 8000 + clip
            sf.write(path, 0.8 * np.sin(2 * np.pi * (200 + 40 * speaker) * phase + clip), 8000)
            entries.append(
                ManifestEntry(
                    len(entries), path.name, path, 1.0, text="hello world", speaker=str(speaker)
                )
            )
    return entries
