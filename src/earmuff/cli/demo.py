"""``earmuff demo``: a guided tour on a fresh workspace, through the real HTTP API."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from earmuff.audit.devices import record_device_event
from earmuff.audit.verification import verify_workspace
from earmuff.cli.demo_owner import show_owner_side
from earmuff.cli.demo_workbench import review_tour, seed_staff
from earmuff.cli.samples import Sample, demo_samples
from earmuff.config import Settings
from earmuff.pipeline.build import build_runner
from earmuff.pipeline.worker import InProcessPipeline
from earmuff.store import Store, open_store
from earmuff.store.accounts import register_device
from earmuff.store.consent import record_consent
from earmuff.store.crypto import FORMAT
from earmuff.store.models import Account, Recording, RecordingStage, ReviewItem
from earmuff.store.review_items import read_review_transcript
from earmuff.store.workspace import make_private_dir, private_umask
from earmuff.web import create_app
from earmuff.web.server import BackgroundServer

MARKER = ".earmuff-demo"
DEFAULT_DEMO_WORKSPACE = Path("earmuff-demo")
HOUSEHOLDS = (
    ("ACC-100234", "Jane", "ECHO-7F3A-0001"),
    ("ACC-100871", "Ravi", "ECHO-7F3A-0002"),
    ("ACC-101502", "Amara", "ECHO-9C11-0003"),
)


class DemoError(RuntimeError):
    """The demo cannot run as asked (for example, the workspace holds other data)."""


DEMO_POLICY = """\
# The demo samples every consenting recording so that each one shows the whole pipeline;
# a real deployment samples a fraction of one per cent (review.sampling_rate).
version = "demo-1"

[review]
consent = "opt-in"
sampling_rate = 1.0
"""


def run_demo(workspace: Path | None, port: int, console: Console, serve: bool = False) -> None:
    root = _fresh_workspace(
        workspace or Path(os.environ.get("EARMUFF_WORKSPACE") or DEFAULT_DEMO_WORKSPACE)
    )
    (root / "policy.toml").write_text(DEMO_POLICY, encoding="utf-8")
    store = open_store(Settings.for_workspace(root))
    console.rule("[bold]earmuff demo")
    console.print(f"workspace {root} (SQLite database, local blob folder, in-process pipeline)")

    tokens = _register_households(store, console)
    _record_consent(store, tokens, console)
    corpus = Path(os.environ.get("EARMUFF_CORPUS") or Path("..") / "shared" / "data")
    samples, source = demo_samples(corpus if corpus.is_dir() else None)
    console.print(f"recordings: {len(samples)} clips of {source}")

    pipeline = InProcessPipeline(lambda: build_runner(store))
    with BackgroundServer(create_app(store=store, pipeline=pipeline), port) as base_url:
        console.print(f"API listening on {base_url} (OpenAPI: {base_url}/docs)\n")
        with httpx.Client(base_url=base_url, timeout=60) as client:
            uploaded = _upload_all(client, samples, tokens, console)
            _show_refusals(client, samples[0], tokens[0], console)
        console.print("the pipeline is working through the recordings (models load once)…")
        pipeline.wait_idle(timeout=900)
        _show_pipeline(store, uploaded, console)
        _show_review_items(store, console)
        console.rule("[bold]the review workbench")
        people = seed_staff(store, console)
        review_tour(base_url, store, people, console)
        _show_storage(store, console)
        show_owner_side(store, tokens, str(root), console)
        if serve:
            _serve_until_interrupted(base_url, console)
    store.close()
    console.print(
        f"\nRun it yourself: [bold]earmuff serve --workspace {root}[/bold], then sign in at "
        "http://127.0.0.1:8000/login as a user above, with a code from an authenticator app "
        "holding its TOTP secret"
    )


def _serve_until_interrupted(base_url: str, console: Console) -> None:
    console.print(
        f"\n[bold]The workbench is being served at {base_url}/login[/bold]: sign in as any user "
        "above (ana and sam review; quinn checks quality; olu runs the safety console; pia "
        "audits; root and ada manage staff, each approving what the other proposes). "
        "Press Ctrl-C to stop."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopped")


def _record_consent(
    store: Store, households: list[tuple[str, str, str, str]], console: Console
) -> None:
    """The first two households said yes to human review; the third never answered."""
    with store.db.transaction() as session:
        for external_id, _name, _serial, _token in households[:2]:
            account_id = session.scalar(
                select(Account.id).where(Account.external_id == external_id)
            )
            assert account_id is not None
            record_consent(session, account_id, "granted", "demo", "disclosure-1")
    names = " and ".join(name for _, name, _, _ in households[:2])
    console.print(
        f"consent: {names} allowed human review; {households[2][1]} did not answer, "
        "so under opt-in nobody will listen to her recordings\n"
    )


def _fresh_workspace(root: Path) -> Path:
    """Start from nothing, but never wipe a folder that a demo did not make."""
    root = root.absolute()
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).exists():
            raise DemoError(f"{root} holds data that is not a demo's; choose another --workspace")
        shutil.rmtree(root)
    private_umask()
    make_private_dir(root)
    (root / MARKER).write_text("made by earmuff demo; deleted by the next demo run\n")
    return root


def _register_households(store: Store, console: Console) -> list[tuple[str, str, str, str]]:
    table = Table(title="Devices registered (tokens are stored only as SHA-256 hashes)")
    for column in ("account", "owner", "device serial", "device token"):
        table.add_column(column)
    tokens = []
    with store.db.transaction() as session:
        for account, name, serial in HOUSEHOLDS:
            device, token = register_device(session, store.keyring, account, name, serial)
            record_device_event(session, store.keyring, "demo", "device.registered", device)
            tokens.append((account, name, serial, token))
            table.add_row(account, name, serial, token[:12] + "…")
    console.print(table)
    return tokens


def _metadata(device: tuple[str, str, str, str], index: int) -> dict[str, object]:
    account, name, serial, _ = device
    captured = datetime.now(UTC) - timedelta(minutes=30 - index)
    return {
        "account_id": account,
        "first_name": name,
        "device_serial": serial,
        "captured_at": captured.isoformat(),
        "locale": "en-US",
        "wake_word": "alexa",
        "wake_confidence": 0.9,
        "device_recording_id": f"demo-{index}",
    }


def _post(
    client: httpx.Client, token: str, metadata: dict[str, object], audio: bytes, key: str | None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        "/v1/recordings",
        headers=headers,
        files={
            "metadata": (None, json.dumps(metadata), "application/json"),
            "audio": ("clip", audio, "application/octet-stream"),
        },
    )


def _upload_all(
    client: httpx.Client,
    samples: list[Sample],
    devices: list[tuple[str, str, str, str]],
    console: Console,
) -> list[tuple[str, str]]:
    table = Table(title="Uploads through POST /v1/recordings")
    for column in ("clip", "device", "answer", "recording id", "seconds", "Hz"):
        table.add_column(column)
    sent = []
    uploaded: list[tuple[str, str]] = []
    for index, sample in enumerate(samples):
        device = devices[index % len(devices)]
        metadata = _metadata(device, index)
        key = hashlib.sha256(sample.audio).hexdigest()
        response = _post(client, device[3], metadata, sample.audio, key)
        sent.append((device, metadata, key))
        body = response.json()
        if response.status_code == 201:
            answer = "201 stored"
            uploaded.append((sample.name, body["recording_id"]))
            row = (body["recording_id"][:8], f"{body['duration_s']:.2f}", str(body["sample_rate"]))
        else:
            answer = f"{response.status_code} {body['error']['code']}"
            row = ("", "", "")
        table.add_row(sample.name, device[2], answer, *row)
    console.print(table)
    (device, metadata, key), first = sent[0], samples[0]
    retry = _post(client, device[3], metadata, first.audio, key)
    console.print(
        f"retry of {first.name} with the same Idempotency-Key: {retry.status_code}, "
        f"same recording {retry.json()['recording_id'][:8]}, nothing stored twice\n"
    )
    return uploaded


def _show_refusals(
    client: httpx.Client, sample: Sample, device: tuple[str, str, str, str], console: Console
) -> None:
    token = device[3]
    cases = (
        ("a wrong device token", "emd_" + "x" * 43, _metadata(device, 90), sample.audio),
        ("random bytes as audio", token, _metadata(device, 91), os.urandom(4000)),
        ("a truncated WAV file", token, _metadata(device, 92), b"RIFF\x24\x00\x00\x00WAVEfmt "),
        (
            "metadata naming another account",
            token,
            _metadata(device, 93) | {"account_id": "ACC-1"},
            sample.audio,
        ),
        (
            "a capture time in the future",
            token,
            _metadata(device, 94) | {"captured_at": "2999-01-01T00:00:00Z"},
            sample.audio,
        ),
    )
    table = Table(title="Bad requests get a clear 4xx and change nothing")
    for column in ("request with", "status", "error code", "message"):
        table.add_column(column)
    for label, case_token, metadata, audio in cases:
        response = _post(client, case_token, metadata, audio, None)
        error = response.json()["error"]
        table.add_row(label, str(response.status_code), error["code"], error["message"][:60])
    console.print(table)


def _show_pipeline(store: Store, uploaded: list[tuple[str, str]], console: Console) -> None:
    table = Table(title="What each pipeline stage decided")
    for column in ("clip", "consent", "wake", "sample", "pii", "item"):
        table.add_column(column)
    with store.db.read() as session:
        for name, recording_id in uploaded:
            rows = session.scalars(
                select(RecordingStage).where(RecordingStage.recording_id == recording_id)
            )
            decided = {row.stage: row.detail for row in rows}
            found = decided.get("pii", {}).get("found")
            pii = ", ".join(f"{k} x{v}" for k, v in found.items()) if found else ""
            table.add_row(
                name,
                str(decided.get("consent", {}).get("decision", "")),
                str(decided.get("wake", {}).get("decision", "")),
                str(decided.get("sample", {}).get("decision", "")),
                pii or ("none" if "pii" in decided else ""),
                str(decided.get("review_item", {}).get("decision", "")),
            )
    console.print(table)


def _show_review_items(store: Store, console: Console) -> None:
    table = Table(title="Review items: all a reviewer will ever receive")
    for column in ("review id", "locale", "length", "masked transcript", "warning"):
        table.add_column(column)
    with store.db.read() as session:
        for item in session.scalars(select(ReviewItem).order_by(ReviewItem.created_at)):
            table.add_row(
                item.id[:12] + "…",
                item.locale,
                item.duration_bucket,
                read_review_transcript(store.keyring, item),
                item.sensitive_category or "",
            )
    console.print(table)
    console.print(
        "no account, device, name or capture time travels with an item; the link back "
        "to the recording is sealed in the vault\n"
    )


def _show_storage(store: Store, console: Console) -> None:
    with store.db.transaction() as session:
        count = session.scalar(select(func.count()).select_from(Recording)) or 0
        verdict = verify_workspace(session, store.settings)
    blobs = list(store.blobs.keys())
    sealed = sum(store.blobs.get(key).startswith(FORMAT) for key in blobs)
    console.print(
        f"stored: {count} recordings; {len(blobs)} blobs (audio, sealed transcripts, review "
        f"items), {sealed} of them sealed with AES-256-GCM; no plaintext audio or text on disk"
    )
    console.print(f"audit log: {verdict.summary()}")
