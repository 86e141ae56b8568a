"""Serving an owner's audio: the rules and the audit are ``owner/listening.py``'s; here it
becomes an inline, never cached WAV response, or a 404 or 410."""

from __future__ import annotations

from fastapi import HTTPException
from fastapi.responses import Response

from earmuff.owner import listening
from earmuff.store import Store

HEADERS = {"Cache-Control": "no-store", "Content-Disposition": "inline"}


def recording_audio(store: Store, account_id: str, recording_id: str, via: str) -> Response:
    try:
        return _wav(listening.recording_audio(store, account_id, recording_id, via))
    except listening.AudioNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except listening.AudioGone as exc:
        raise HTTPException(410, str(exc)) from None


def copy_audio(
    store: Store, account_id: str, recording_id: str, item_id: str, via: str
) -> Response:
    try:
        return _wav(listening.review_copy_audio(store, account_id, recording_id, item_id, via))
    except listening.AudioNotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except listening.AudioGone as exc:
        raise HTTPException(410, str(exc)) from None


def _wav(audio: bytes) -> Response:
    return Response(audio, media_type="audio/wav", headers=HEADERS)
