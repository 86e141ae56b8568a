"""What a stage is: a plain object with a name and ``run(work) -> Outcome``.

A stage knows nothing of how it is scheduled: the in-process runner and a distributed
worker call it the same way. It must be idempotent: run twice on the same recording,
it decides the same and leaves one result, so a crash can resume anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Protocol

from earmuff.audio import DecodedAudio, decode_audio
from earmuff.config import Policy
from earmuff.store import Store
from earmuff.store.blobs import BlobNotFound
from earmuff.store.crypto import blob_context, seal, unseal
from earmuff.store.models import Recording
from earmuff.store.recordings import open_recording_key

STAGE_ORDER = (
    "consent",
    "wake",
    "sample",
    "transcribe",
    "pii",
    "anonymize",
    "screen",
    "review_item",
)
"""The stages' names in the order they run. Declared here, beside what a stage is, so
that the owner's pages and queries can follow the order without importing the
pipeline's models (Presidio, Whisper); ``pipeline.build.stages`` is checked against it."""


@dataclass(frozen=True)
class Outcome:
    """A stage's decision. ``detail`` holds facts safe to show an auditor or the owner."""

    proceed: bool
    decision: str
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def go(cls, decision: str, **detail: Any) -> Outcome:
        return cls(True, decision, detail)

    @classmethod
    def stop(cls, decision: str, **detail: Any) -> Outcome:
        return cls(False, decision, detail)


class Stage(Protocol):
    name: str

    def run(self, work: Work) -> Outcome: ...


@dataclass(frozen=True)
class RecordingFacts:
    """The recording as stages see it: no name, no serial, no account number."""

    id: str
    account_id: str
    device_id: str
    locale: str
    wake_word: str
    wake_confidence: float | None
    duration_s: float
    sample_rate: int
    received_at: datetime
    blob_key: str | None
    key_sealed: bytes | None

    @classmethod
    def of(cls, recording: Recording) -> RecordingFacts:
        return cls(
            id=recording.id,
            account_id=recording.account_id,
            device_id=recording.device_id,
            locale=recording.locale,
            wake_word=recording.wake_word,
            wake_confidence=recording.wake_confidence,
            duration_s=recording.duration_s,
            sample_rate=recording.sample_rate,
            received_at=recording.received_at,
            blob_key=recording.blob_key,
            key_sealed=recording.key_sealed,
        )


def artifact_key(recording_id: str, name: str) -> str:
    return f"derived/{recording_id}/{name}"


class Work:
    """One recording passing through the pipeline, with its audio and sealed artifacts.

    Artifacts (a transcript, word times, redacted audio) are sealed under the recording's
    key before they reach the blob store, like the raw audio: nothing a stage produces
    is ever written in plaintext, and shredding the recording's key or its account's
    shreds them too.
    """

    def __init__(self, store: Store, facts: RecordingFacts) -> None:
        self.store = store
        self.facts = facts

    @property
    def policy(self) -> Policy:
        return self.store.settings.policy

    @cached_property
    def _data_key(self) -> bytes:
        """The recording's own key: artifacts die with the recording, or with the account."""
        with self.store.db.read() as session:
            account_key = self.store.keyring.account_key(session, self.facts.account_id)
        return open_recording_key(account_key, self.facts.id, self.facts.key_sealed)

    @cached_property
    def audio(self) -> DecodedAudio:
        if self.facts.blob_key is None:
            raise BlobNotFound(f"recording {self.facts.id} has no audio")
        return decode_audio(self._open(self.facts.blob_key), self.store.settings.limits)

    def save(self, name: str, data: bytes) -> None:
        key = self._artifact_key(name)
        self.store.blobs.put(key, seal(self._data_key, data, self._context(key)))

    def load(self, name: str) -> bytes | None:
        try:
            return self._open(self._artifact_key(name))
        except BlobNotFound:
            return None

    def _open(self, key: str) -> bytes:
        return unseal(self._data_key, self.store.blobs.get(key), self._context(key))

    def _artifact_key(self, name: str) -> str:
        return artifact_key(self.facts.id, name)

    def _context(self, key: str) -> bytes:
        return blob_context(self.facts.account_id, key)
