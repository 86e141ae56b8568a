"""A recording's own data key, and reading its audio.

Each recording is sealed under a key of its own, itself sealed under the account key:
destroying the account key shreds the whole household, clearing one recording's key
shreds just that recording, backups included.
"""

from __future__ import annotations

import secrets

from sqlalchemy.orm import Session

from earmuff.store.blobs import BlobStore
from earmuff.store.crypto import KEY_BYTES, KeyDestroyed, KeyRing, blob_context, seal, unseal
from earmuff.store.models import Recording


def _key_context(recording_id: str) -> bytes:
    return b"earmuff recording key|" + recording_id.encode()


def new_recording_key(account_key: bytes, recording_id: str) -> tuple[bytes, bytes]:
    """A fresh data key and its sealed form for ``recordings.key_sealed``."""
    key = secrets.token_bytes(KEY_BYTES)
    return key, seal(account_key, key, _key_context(recording_id))


def open_recording_key(account_key: bytes, recording_id: str, key_sealed: bytes | None) -> bytes:
    if key_sealed is None:
        raise KeyDestroyed(f"the data key of recording {recording_id} was destroyed")
    return unseal(account_key, key_sealed, _key_context(recording_id))


def recording_key(session: Session, keyring: KeyRing, recording: Recording) -> bytes:
    account_key = keyring.account_key(session, recording.account_id)
    return open_recording_key(account_key, recording.id, recording.key_sealed)


def read_audio(session: Session, keyring: KeyRing, blobs: BlobStore, recording: Recording) -> bytes:
    """The stored (canonical WAV) audio of ``recording``, opened."""
    if recording.blob_key is None:
        raise KeyDestroyed(f"recording {recording.id} has no audio any more")
    key = recording_key(session, keyring, recording)
    context = blob_context(recording.account_id, recording.blob_key)
    return unseal(key, blobs.get(recording.blob_key), context)
