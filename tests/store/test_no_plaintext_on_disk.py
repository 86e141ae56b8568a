"""Nothing a device uploads reaches the disk in the clear.

A recording goes up through the API; then every file earmuff could have written (the
SQLite database and its WAL, the blobs, the key file, anything else in the workspace,
and the process's temporary folder) is read back and searched for any 1 KiB stretch of
the audio (the WAV file, its PCM samples, the canonical samples earmuff derives, and the
canonical FLAC it seals) and for the owner's first name. On PostgreSQL the database
lives on the server, so every row of every table is searched instead.

The scanner is checked twice: on plaintext copies written outside the workspace, and
on a workspace written with sealing switched off, where it must find everything.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from sqlalchemy import text

from earmuff.config import Settings
from earmuff.store import Store
from earmuff.store.models import Base, Recording
from earmuff.store.recordings import read_audio
from tests.audio_samples import tone
from tests.web.conftest import RegisteredDevice, make_device, upload

RUN = 1024
"""The shortest stretch of a secret that counts as a leak."""

FIRST_NAME = "Wilhelmina-Ostrowski"
SECONDS, RATE, CHANNELS = 6.0, 16_000, 2


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """As deployed: on SQLite the database file (and its WAL) sits inside the workspace."""
    is_sqlite = database_url.startswith("sqlite")
    env = {} if is_sqlite else {"EARMUFF_DATABASE_URL": database_url}
    return Settings.for_workspace(tmp_path / "workspace", env=env)


@pytest.fixture
def temp_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The process's temporary folder, redirected so that it can be searched too."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


# --- the scanner ---------------------------------------------------------------------------


def find_run(haystack: bytes, secret: bytes, run: int = RUN) -> int | None:
    """The offset in ``haystack`` of some ``run``-byte stretch of ``secret``, else None.

    Every ``run``-byte window of ``secret`` wholly contains one of its blocks of
    ``run // 2`` bytes aligned on ``run // 2``, so only those blocks are searched for;
    each hit is then widened to check that a full ``run`` bytes match around it.
    """
    half = run // 2
    for block_start in range(0, len(secret) - half + 1, half):
        block = secret[block_start : block_start + half]
        hit = haystack.find(block)
        while hit != -1:
            for shift in range(half):
                secret_at, haystack_at = block_start - shift, hit - shift
                if secret_at < 0 or haystack_at < 0:
                    break
                if (
                    haystack[haystack_at : haystack_at + run] == secret[secret_at : secret_at + run]
                    and len(secret) - secret_at >= run
                ):
                    return haystack_at
            hit = haystack.find(block, hit + 1)
    return None


@dataclass(frozen=True)
class Leak:
    where: str
    secret: str
    offset: int


def scan(
    sources: dict[str, bytes], runs: dict[str, bytes], strings: dict[str, bytes]
) -> list[Leak]:
    """Every place where a ``runs`` secret leaks 1 KiB or a ``strings`` secret appears."""
    leaks = []
    for where, haystack in sources.items():
        for name, secret in runs.items():
            offset = find_run(haystack, secret)
            if offset is not None:
                leaks.append(Leak(where, name, offset))
        for name, secret in strings.items():
            if (offset := haystack.find(secret)) != -1:
                leaks.append(Leak(where, name, offset))
    return leaks


def files_under(*roots: Path) -> dict[str, bytes]:
    return {
        str(path): path.read_bytes()
        for root in roots
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def database_rows(store: Store) -> dict[str, bytes]:
    """Every value of every row of every table, as the database hands it back."""

    def as_bytes(value: Any) -> bytes:
        if isinstance(value, bytes | memoryview):
            return bytes(value)
        if isinstance(value, dict | list):
            return json.dumps(value, ensure_ascii=False).encode()
        return str(value).encode()

    dump = {}
    with store.db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            rows = session.execute(text(f"SELECT * FROM {table.name}")).all()
            dump[f"table {table.name}"] = b"\x00".join(
                as_bytes(value) for row in rows for value in row
            )
    return dump


# --- what was uploaded ---------------------------------------------------------------------


@dataclass(frozen=True)
class Uploaded:
    wav_file: bytes
    pcm: bytes
    """The raw interleaved 16-bit samples of the WAV data chunk."""
    canonical_flac: bytes
    """What earmuff seals: the blob's plaintext."""
    canonical_int16: bytes
    canonical_float32: bytes

    def runs(self) -> dict[str, bytes]:
        return {
            "uploaded WAV file": self.wav_file,
            "uploaded PCM samples": self.pcm,
            "canonical FLAC": self.canonical_flac,
            "canonical int16 samples": self.canonical_int16,
            "canonical float32 samples": self.canonical_float32,
        }


def voice_like_stereo_wav() -> tuple[bytes, bytes]:
    """Six seconds of two-microphone 16-bit PCM, with noise throughout (no digital silence)."""
    samples = tone(SECONDS, RATE, channels=CHANNELS, seed=7)
    pcm16 = np.round(samples * 32767).astype("<i2")
    buffer = io.BytesIO()
    sf.write(buffer, pcm16, RATE, format="WAV", subtype="PCM_16")
    wav_file = buffer.getvalue()
    pcm = pcm16.tobytes()
    assert pcm in wav_file, "the PCM is the WAV's data chunk, byte for byte"
    return wav_file, pcm


def canonical_of(store: Store, recording_id: str, sealed: bool = True) -> bytes:
    with store.db.transaction() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None and recording.blob_key is not None
        blob = store.blobs.get(recording.blob_key)
        if not sealed:
            return blob
        return read_audio(session, store.keyring, store.blobs, recording)


def upload_recording(
    client: TestClient, store: Store, sealed: bool = True
) -> tuple[RegisteredDevice, Uploaded]:
    device = make_device(store, "ACC-7731", FIRST_NAME, "SN-KITCHEN-7731")
    wav_file, pcm = voice_like_stereo_wav()
    response = upload(client, device.token, device.metadata(), wav_file)
    assert response.status_code == 201, response.text
    flac = canonical_of(store, response.json()["recording_id"], sealed)
    int16, rate = sf.read(io.BytesIO(flac), dtype="int16")
    assert (rate, int16.ndim, len(int16)) == (RATE, 1, int(SECONDS * RATE))
    stereo = np.frombuffer(pcm, dtype="<i2").reshape(-1, CHANNELS)
    assert np.abs(int16.astype(np.int32) - stereo.mean(axis=1)).max() <= 1, "a mono downmix"
    float32 = sf.read(io.BytesIO(flac), dtype="float32")[0]
    return device, Uploaded(
        wav_file, pcm, flac, int16.astype("<i2").tobytes(), float32.astype("<f4").tobytes()
    )


def strings_of(device: RegisteredDevice) -> dict[str, bytes]:
    return {
        "first name (UTF-8)": device.first_name.encode(),
        "first name (UTF-16)": device.first_name.encode("utf-16-le"),
    }


def everything_on_disk(store: Store, temp_folder: Path) -> Iterator[dict[str, bytes]]:
    """The workspace and temp folder while the database is open, then again once closed.

    While SQLite is open its newest pages sit in the WAL; closing checkpoints them into
    the main file. Both states are searched.
    """
    sources = files_under(store.settings.workspace, temp_folder)
    yield sources | database_rows(store)
    store.db.dispose()
    yield files_under(store.settings.workspace, temp_folder)


# --- the tests -----------------------------------------------------------------------------


def test_no_audio_or_first_name_is_on_disk_in_the_clear_after_an_upload(
    client: TestClient, store: Store, temp_folder: Path
) -> None:
    device, uploaded = upload_recording(client, store)
    workspace = store.settings.workspace
    blob_keys = list(store.blobs.keys())
    blob_files = [workspace / "blobs" / key for key in blob_keys]
    for sources in everything_on_disk(store, temp_folder):
        assert {str(path) for path in blob_files} <= set(sources), "the blob was searched"
        if store.db.dialect == "sqlite":
            assert str(workspace / "earmuff.db") in sources, "the database was searched"
        assert scan(sources, uploaded.runs(), strings_of(device)) == []


def test_the_scanner_finds_plaintext_copies_outside_the_workspace(
    client: TestClient, store: Store, tmp_path: Path
) -> None:
    """Guards the test above: the same scan, on a folder of plaintext, finds every copy."""
    device, uploaded = upload_recording(client, store)
    control = tmp_path / "plaintext-control"
    control.mkdir()
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
    (control / "raw.wav").write_bytes(uploaded.wav_file)
    (control / "canonical.flac").write_bytes(uploaded.canonical_flac)
    (control / "canonical.f32").write_bytes(uploaded.canonical_float32)
    stretch = uploaded.canonical_int16[777 : 777 + RUN]
    (control / "embedded.bin").write_bytes(noise[:333] + stretch + noise)
    (control / "too-short.bin").write_bytes(noise[:333] + stretch[:-1] + noise)
    (control / "name.txt").write_bytes(b"row 1|" + FIRST_NAME.encode() + b"|en-US")

    leaks = scan(files_under(control), uploaded.runs(), strings_of(device))
    found = {(Path(leak.where).name, leak.secret) for leak in leaks}
    assert {
        ("raw.wav", "uploaded WAV file"),
        ("raw.wav", "uploaded PCM samples"),
        ("canonical.flac", "canonical FLAC"),
        ("canonical.f32", "canonical float32 samples"),
        ("embedded.bin", "canonical int16 samples"),
        ("name.txt", "first name (UTF-8)"),
    } <= found
    assert next(leak.offset for leak in leaks if leak.where.endswith("embedded.bin")) == 333
    assert not any(leak.where.endswith("too-short.bin") for leak in leaks)


def test_the_scanner_finds_the_audio_and_name_when_sealing_is_switched_off(
    client: TestClient, store: Store, temp_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mutation check: with ``seal`` made the identity, the same search reports leaks."""
    monkeypatch.setattr("earmuff.pipeline.ingest.seal", lambda _key, data, _context: data)
    monkeypatch.setattr("earmuff.store.accounts.seal", lambda _key, data, _context: data)
    monkeypatch.setattr("earmuff.store.accounts.unseal", lambda _key, data, _context: data)
    device, uploaded = upload_recording(client, store, sealed=False)
    for sources in everything_on_disk(store, temp_folder):
        found = {leak.secret for leak in scan(sources, uploaded.runs(), strings_of(device))}
        assert "canonical FLAC" in found
        if store.db.dialect == "sqlite" or "table accounts" in sources:
            assert "first name (UTF-8)" in found


def test_find_run_reports_stretches_of_exactly_a_kibibyte_at_any_alignment() -> None:
    rng = np.random.default_rng(11)
    secret = rng.integers(0, 256, 10_000, dtype=np.uint8).tobytes()
    noise = rng.integers(0, 256, 3_000, dtype=np.uint8).tobytes()
    for start in (0, 1, 511, 512, 513, 5_000, len(secret) - RUN):
        stretch = secret[start : start + RUN]
        assert find_run(noise + stretch + noise, secret) == len(noise), start
        assert find_run(noise + stretch[1:] + noise, secret) is None, start
        assert find_run(noise + stretch[:-1] + noise, secret) is None, start
    assert find_run(noise, secret) is None
