"""The ``earmuff`` command, as an operator types it."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from earmuff.cli.main import app
from earmuff.config import Settings
from earmuff.store import open_store
from earmuff.store.models import Recording
from earmuff.web import create_app
from earmuff.web.server import BackgroundServer, free_port
from tests.audio_samples import encode, tone, wav

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.output


def add_device(workspace: Path, serial: str = "SN-1") -> str:
    output = invoke(
        "devices",
        "add",
        "--workspace",
        str(workspace),
        "--account",
        "ACC-1",
        "--first-name",
        "Jane",
        "--serial",
        serial,
    )
    return output.strip().splitlines()[-1]


def test_init_creates_the_database_blob_folder_and_a_private_master_key(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    output = invoke("init", "--workspace", str(workspace))
    assert str(workspace) in output
    assert (workspace / "earmuff.db").is_file()
    assert (workspace / "blobs").is_dir()
    assert stat.S_IMODE((workspace / "master.key").stat().st_mode) == 0o600


def test_the_workspace_defaults_to_the_environment_variable(tmp_path: Path) -> None:
    invoke("init", env={"EARMUFF_WORKSPACE": str(tmp_path / "from-env")})
    assert (tmp_path / "from-env" / "earmuff.db").is_file()


def test_devices_add_prints_a_token_once_and_refuses_a_taken_serial(tmp_path: Path) -> None:
    token = add_device(tmp_path)
    assert token.startswith("emd_") and len(token) > 40
    result = runner.invoke(
        app,
        [
            "devices",
            "add",
            "--workspace",
            str(tmp_path),
            "--account",
            "ACC-2",
            "--first-name",
            "Ravi",
            "--serial",
            "SN-1",
        ],
    )
    assert result.exit_code == 1
    assert "already registered" in result.output


def test_ingest_uploads_files_and_a_second_run_stores_nothing_twice(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    token = add_device(workspace)
    files = []
    for index, (fmt, name) in enumerate([("WAV", "a.wav"), ("FLAC", "b.flac"), ("WAV", "c.wav")]):
        path = tmp_path / name
        path.write_bytes(encode(tone(1.0, seed=index), 16_000, fmt))
        files.append(str(path))
    store = open_store(Settings.for_workspace(workspace))
    with BackgroundServer(create_app(store=store)) as url:
        first = invoke("ingest", *files, "--device-token", token, "--server", url)
        second = invoke("ingest", *files, "--device-token", token, "--server", url)
    assert "3 stored, 0 already stored, 0 refused" in first
    assert "0 stored, 3 already stored, 0 refused" in second
    with store.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Recording)) == 3
    store.close()


def test_ingest_reports_refused_files_and_exits_non_zero(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    token = add_device(workspace)
    good, bad = tmp_path / "good.wav", tmp_path / "bad.wav"
    good.write_bytes(wav(1.0))
    bad.write_bytes(b"not audio at all" * 10)
    store = open_store(Settings.for_workspace(workspace))
    with BackgroundServer(create_app(store=store)) as url:
        result = runner.invoke(
            app, ["ingest", str(good), str(bad), "--device-token", token, "--server", url]
        )
        wrong = runner.invoke(
            app, ["ingest", str(good), "--device-token", "emd_wrong", "--server", url]
        )
    store.close()
    assert result.exit_code == 1
    assert "1 stored, 0 already stored, 1 refused" in result.output
    assert "unsupported_format" in result.output
    assert wrong.exit_code == 1 and "refused the token" in wrong.output


def test_demo_with_synthesized_speech_uploads_and_refuses_as_it_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    output = invoke("demo", env={"EARMUFF_CORPUS": str(tmp_path / "no-corpus"), "COLUMNS": "200"})
    assert "synthesized with eSpeak NG" in output
    assert output.count("201 stored") == 5
    assert "Idempotency-Key: 200" in output
    for code in ("invalid_token", "unsupported_format", "metadata_mismatch", "invalid_metadata"):
        assert code in output
    assert re.search(r"5 recordings; (\d+) blobs \(.*\), \1 of them sealed", output)
    assert "[PHONE_NUMBER]" in output
    assert "no_consent" in output
    assert "audit log: intact:" in output and "checkpoint(s) match" in output
    assert "Jane signs in with a one-use link. First screen: People may listen" in output
    assert "TOTP secret" in output and "heard it, submitted" in output
    assert "a safety case opened" in output and "streamed to ana (annotator) under lease" in output
    assert "Ravi switches human review off" in output and "Nobody listens" in output
    assert re.search(r"/portal/sign-in\?token=eml_[\w-]{43}", output)


def test_demo_with_the_corpus_uses_real_speech_and_can_run_again(
    tmp_path: Path, corpus: Path
) -> None:
    workspace = tmp_path / "demo"
    env = {"EARMUFF_CORPUS": str(corpus), "COLUMNS": "200"}
    invoke("demo", "--workspace", str(workspace), env=env)
    output = invoke("demo", "--workspace", str(workspace), env=env)
    assert "real speech" in output
    assert "126.flac" in output and "422" not in output.split("Bad requests")[0]
    assert re.search(r"5 recordings; (\d+) blobs \(.*\), \1 of them sealed", output)
    assert "Alexa [PHONE_NUMBER]" in output and "false_wake" in output


def test_demo_never_wipes_a_folder_it_did_not_make(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    result = runner.invoke(app, ["demo", "--workspace", str(precious)])
    assert result.exit_code == 1
    assert (precious / "thesis.txt").read_text() == "years of work"


def test_serve_with_two_workers_answers_on_one_port(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    token = add_device(workspace)
    port = free_port()
    command = [sys.executable, "-m", "earmuff.cli.main", "serve", "--workspace", str(workspace)]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
            time.sleep(0.1)
        me = httpx.get(f"{base}/v1/devices/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json() == {"account_id": "ACC-1", "device_serial": "SN-1", "first_name": "Jane"}
        metadata = {
            "account_id": "ACC-1",
            "first_name": "Jane",
            "device_serial": "SN-1",
            "captured_at": "2026-11-20T10:00:00Z",
            "locale": "en-US",
            "wake_word": "alexa",
        }
        statuses = [
            httpx.post(
                f"{base}/v1/recordings",
                headers={"Authorization": f"Bearer {token}"},
                files={
                    "metadata": (None, json.dumps(metadata), "application/json"),
                    "audio": ("a.wav", wav(0.5, seed=i), "audio/wav"),
                },
            ).status_code
            for i in range(6)
        ]
        assert statuses == [201] * 6
    finally:
        server.terminate()
        server.wait(timeout=20)
