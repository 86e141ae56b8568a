from __future__ import annotations

import json

import pytest

from earmuff.pipeline.ingest import Ingestor
from earmuff.speech.wake import WakeVerdict
from earmuff.store import Store
from earmuff.store.accounts import register_device
from earmuff.store.consent import Choice, record_consent
from earmuff.store.models import Account, Device
from tests.audio_samples import wav


class Household:
    """An account with one device, able to upload recordings through the real ingest stage."""

    def __init__(self, store: Store, external_id: str, serial: str) -> None:
        self.store = store
        self.external_id = external_id
        self.serial = serial
        with store.db.transaction() as session:
            device, self.token = register_device(
                session, store.keyring, external_id, "Jane", serial
            )
            self.account_id = device.account_id
            self.device_id = device.id
        self._count = 0

    def consent(self, choice: Choice) -> None:
        with self.store.db.transaction() as session:
            record_consent(session, self.account_id, choice, "test", "disclosure-1")

    def mark_child(self, on_device: bool = False) -> None:
        with self.store.db.transaction() as session:
            row = (
                session.get(Device, self.device_id)
                if on_device
                else session.get(Account, self.account_id)
            )
            assert row is not None
            row.is_child_profile = True

    def metadata(self, locale: str = "en-US") -> dict[str, str]:
        """What this household's device says about a recording, as it would upload it."""
        return {
            "account_id": self.external_id,
            "first_name": "Jane",
            "device_serial": self.serial,
            "captured_at": "2026-11-20T10:00:00Z",
            "locale": locale,
            "wake_word": "alexa",
        }

    def upload(self, locale: str = "en-US", audio: bytes | None = None) -> str:
        self._count += 1
        metadata = {**self.metadata(locale), "device_recording_id": f"r{self._count}"}
        ingestor = Ingestor(
            self.store.settings, self.store.db, self.store.blobs, self.store.keyring
        )
        uploader = ingestor.authenticate(self.token)
        body = audio if audio is not None else wav(0.5, seed=self._count)
        result = ingestor.ingest(uploader, json.dumps(metadata).encode(), body)
        return str(result.body["recording_id"])


@pytest.fixture
def household(store: Store) -> Household:
    return Household(store, "ACC-1", "SN-1")


class FixedWake:
    """A wake verifier that hears, or does not hear, the wake word in every recording."""

    def __init__(self, is_wake: bool = True) -> None:
        self.is_wake = is_wake

    def verify(self, samples: object, sample_rate: int, wake_word: str) -> WakeVerdict:
        return WakeVerdict(self.is_wake, ())
