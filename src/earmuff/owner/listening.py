"""An owner hears their own recordings, and what reviewers heard of them, on the record.

Only the account's own recordings, and only copies made from them (found through the
vault's blind index), are served. Every play is audited like a reviewer's: a household
sharing a device, or someone who signed in with a forwarded link, leaves the same
trace a reviewer does.
"""

from __future__ import annotations

from earmuff.audit.log import record
from earmuff.store import Store
from earmuff.store.blobs import BlobNotFound
from earmuff.store.crypto import CryptoError
from earmuff.store.models import Recording, ReviewItem
from earmuff.store.recordings import read_audio
from earmuff.store.review_items import read_review_audio
from earmuff.store.vault import items_of_recordings

PLAYED = "owner.audio_played"


class AudioNotFound(LookupError):
    """Not this account's recording, or not a copy made from it."""


class AudioGone(LookupError):
    """The audio existed and was deleted (its key destroyed, its blob removed)."""


def recording_audio(store: Store, account_id: str, recording_id: str, via: str) -> bytes:
    """The recording's audio as WAV, if it is the account's and still stored."""
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        if recording is None or recording.account_id != account_id:
            raise AudioNotFound("no such recording in your account")
        try:
            audio = read_audio(session, store.keyring, store.blobs, recording)
        except (CryptoError, BlobNotFound):
            raise AudioGone("the audio of this recording was deleted") from None
    _played(store, account_id, f"recording:{recording_id}", via)
    return audio


def review_copy_audio(
    store: Store, account_id: str, recording_id: str, item_id: str, via: str
) -> bytes:
    """What reviewers were served of the recording: the anonymized, bleeped copy, or the
    synthetic voice reading its masked transcript (``ReviewItem.served``)."""
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        if recording is None or recording.account_id != account_id:
            raise AudioNotFound("no such recording in your account")
        copies = items_of_recordings(session, store.keyring, [recording_id]).get(recording_id, [])
        item = session.get(ReviewItem, item_id) if item_id in copies else None
        if item is None:
            raise AudioNotFound("no such review copy of this recording")
        try:
            audio = read_review_audio(store.keyring, store.blobs, item)
        except (LookupError, CryptoError):
            raise AudioGone("this review copy was deleted") from None
    _played(store, account_id, f"recording:{recording_id}", via, copy=True)
    return audio


def _played(store: Store, account_id: str, subject: str, via: str, copy: bool = False) -> None:
    with store.db.transaction() as session:
        record(session, f"owner:{account_id}", PLAYED, subject, {"via": via, "review_copy": copy})
