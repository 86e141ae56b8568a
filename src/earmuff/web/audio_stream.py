"""Sending audio to a person: watermarked for them, audited, and never cached.

Every stream gets a fresh random mark code embedded as an inaudible watermark, and the
audit log records which person, lease and item that code was given to. A copy that
turns up outside (a phone recording of the speaker, an MP3 in a chat room) names its
source: ``earmuff watermark identify`` reads the code, the audit log says whose it was.
"""

from __future__ import annotations

import io
import secrets
from typing import Any

import numpy as np
import soundfile as sf
from fastapi import Request, Response

from earmuff.audio.codec import encode_wav
from earmuff.audio.watermark import PAYLOAD_BYTES, embed
from earmuff.audit.log import record
from earmuff.audit.marks import STREAMED, mark_subject
from earmuff.store.crypto import watermark_key
from earmuff.web.staff_auth import Staff

NO_STORE = {
    "Cache-Control": "no-store, private, max-age=0",
    "Pragma": "no-cache",
    "Content-Disposition": "inline",
    "Accept-Ranges": "none",
}


def audio_response(request: Request, wav: bytes, staff: Staff, details: dict[str, Any]) -> Response:
    """The WAV ``wav`` as a response for ``staff``, marked with a code the audit log
    ties to them and to ``details`` (lease, item, second listen or case)."""
    store = request.app.state.store
    with sf.SoundFile(io.BytesIO(wav)) as handle:
        rate = int(handle.samplerate)
        samples = handle.read(dtype="float32", always_2d=True).mean(axis=1, dtype=np.float32)
    code = secrets.token_bytes(PAYLOAD_BYTES)
    marked = embed(samples, rate, code, watermark_key(store.keyring.master))
    body = encode_wav(marked, rate)
    with store.db.transaction() as session:
        record(
            session,
            f"staff:{staff.id}",
            STREAMED,
            mark_subject(code),
            {**details, "staff": staff.id, "role": staff.role},
        )
    return Response(body, media_type="audio/wav", headers=NO_STORE)
