"""Model files are refused unless they hash to their pins."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from earmuff.speech.asr import BASE, TINY_EN, load_whisper
from earmuff.speech.integrity import ModelIntegrityError, file_digest, verify_files


def test_a_split_file_hashes_as_if_whole(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"hello ")
    (tmp_path / "b").write_bytes(b"world")
    assert (
        file_digest([tmp_path / "a", tmp_path / "b"]) == hashlib.sha256(b"hello world").hexdigest()
    )


def test_a_changed_or_missing_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"weights")
    good = hashlib.sha256(b"weights").hexdigest()
    assert verify_files(tmp_path, {"model.bin": good}) == {"model.bin": tmp_path / "model.bin"}
    with pytest.raises(ModelIntegrityError, match="sha256"):
        verify_files(tmp_path, {"model.bin": "0" * 64})
    with pytest.raises(ModelIntegrityError, match="missing"):
        verify_files(tmp_path, {"vocabulary.txt": good})


def test_whisper_refuses_weights_that_differ_from_the_pin() -> None:
    tampered = TINY_EN.__class__(
        name="tiny.en",
        package=TINY_EN.package,
        folder=TINY_EN.folder,
        files={**TINY_EN.files, "model.bin": "f" * 64},
    )
    with pytest.raises(ModelIntegrityError):
        load_whisper(tampered)


def test_the_base_model_halves_must_assemble_to_the_pinned_whole() -> None:
    wrong = BASE.__class__(**{**BASE.__dict__, "assembled_sha256": "0" * 64})
    with pytest.raises(ModelIntegrityError, match="assemble"):
        load_whisper(wrong)
