"""Decoding real recordings from the speech corpus, including files libsndfile refuses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from earmuff.audio import decode_audio, encode_wav
from earmuff.config import IngestLimits


def test_every_wake_word_flac_decodes_even_those_libsndfile_loses_sync_on(corpus: Path) -> None:
    files = sorted((corpus / "alexa").glob("*.flac"))
    assert len(files) > 100
    refused_by_libsndfile = []
    for path in files:
        try:
            sf.info(path)
            sf.read(path)
        except Exception:
            refused_by_libsndfile.append(path.name)
        decoded = decode_audio(path.read_bytes(), IngestLimits())
        assert decoded.sample_rate == 16_000
        assert 0.3 < decoded.duration_s < 10
    assert len(refused_by_libsndfile) >= 8, "the corpus's lost-sync files should be exercised"


@pytest.mark.parametrize("folder", ["commands", "digits", "mycroft/not-wake-words/en"])
def test_corpus_wav_files_decode_and_survive_the_stored_form(corpus: Path, folder: str) -> None:
    for path in sorted((corpus / folder).glob("*.wav"))[:40]:
        decoded = decode_audio(path.read_bytes(), IngestLimits())
        stored = decode_audio(encode_wav(decoded.samples, decoded.sample_rate), IngestLimits())
        assert stored.sample_rate == decoded.sample_rate
        assert len(stored.samples) == len(decoded.samples)
        assert np.array_equal(stored.samples, decoded.samples), "16-bit audio is stored bit-exact"
