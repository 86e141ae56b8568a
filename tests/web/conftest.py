from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from earmuff.store import Store
from earmuff.store.accounts import register_device


@dataclass
class RegisteredDevice:
    token: str
    account_id: str
    first_name: str
    serial: str

    def metadata(self, **changes: Any) -> dict[str, Any]:
        base: dict[str, Any] = {
            "account_id": self.account_id,
            "first_name": self.first_name,
            "device_serial": self.serial,
            "captured_at": "2026-11-20T18:30:00Z",
            "locale": "en-US",
            "wake_word": "alexa",
            "wake_confidence": 0.93,
            "device_recording_id": None,
        }
        base.update(changes)
        return {k: v for k, v in base.items() if v is not None}


def make_device(
    store: Store, account: str = "ACC-1001", name: str = "Jane", serial: str = "SN-1"
) -> RegisteredDevice:
    with store.db.transaction() as session:
        _, token = register_device(session, store.keyring, account, name, serial)
    return RegisteredDevice(token=token, account_id=account, first_name=name, serial=serial)


@pytest.fixture
def device(store: Store) -> RegisteredDevice:
    return make_device(store)


def upload(
    client: TestClient,
    token: str | None,
    metadata: dict[str, Any] | str | bytes | None,
    audio: bytes | None,
    idempotency_key: str | None = None,
    filename: str = "clip.wav",
    authorization: str | None = None,
) -> httpx.Response:
    """POST an upload; ``authorization``, when given, is sent as the header verbatim."""
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if authorization is not None:
        headers["Authorization"] = authorization
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    files: dict[str, Any] = {}
    if metadata is not None:
        raw = metadata if isinstance(metadata, str | bytes) else json.dumps(metadata)
        files["metadata"] = (None, raw, "application/json")
    if audio is not None:
        files["audio"] = (filename, audio, "application/octet-stream")
    return client.post("/v1/recordings", headers=headers, files=files or None)
