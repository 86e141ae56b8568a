"""An owner hears their own recordings, and what reviewers heard of them.

Only the account's own recordings, and only copies made from them (found through the
vault's blind index), are served; never cached, shown inline.
"""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import Response

from earmuff.store import Store
from earmuff.store.blobs import BlobNotFound
from earmuff.store.crypto import CryptoError
from earmuff.store.models import Recording, ReviewItem
from earmuff.store.recordings import read_audio
from earmuff.store.review_items import read_review_audio
from earmuff.store.vault import items_of_recordings

HEADERS = {"Cache-Control": "no-store", "Content-Disposition": "inline"}


def _wav(audio: bytes) -> Response:
    return Response(audio, media_type="audio/wav", headers=HEADERS)


def recording_audio(store: Store, account_id: str, recording_id: str) -> Response:
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        if recording is None or recording.account_id != account_id:
            raise HTTPException(404, "no such recording in your account")
        try:
            audio = read_audio(session, store.keyring, store.blobs, recording)
        except (CryptoError, BlobNotFound):
            raise HTTPException(410, "the audio of this recording was deleted") from None
    return _wav(audio)


def copy_audio(store: Store, account_id: str, recording_id: str, item_id: str) -> Response:
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        if recording is None or recording.account_id != account_id:
            raise HTTPException(404, "no such recording in your account")
        copies = items_of_recordings(session, store.keyring, [recording_id]).get(recording_id, [])
        item = session.get(ReviewItem, item_id) if item_id in copies else None
        if item is None:
            raise HTTPException(404, "no such review copy of this recording")
        try:
            audio = read_review_audio(store.keyring, store.blobs, item)
        except (LookupError, CryptoError):
            raise HTTPException(410, "this review copy was deleted") from None
    return _wav(audio)
