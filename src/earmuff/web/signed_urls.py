"""Short-lived signed URLs for audio: a link that works for one person, for a minute.

The token names what it opens (a lease's item, or one second-listen span), whom for,
and until when, under an HMAC with a master-derived key. Copying the link into a chat
room gives nothing: it has expired, and it also needs the holder's own session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from earmuff.store.crypto import KeyRing

PURPOSE = "earmuff audio urls v1"


class AudioUrl(BaseModel):
    """What a page's script asks for before it plays: a link valid for a short while."""

    url: str
    expires_in_s: int


class BadAudioToken(Exception):
    """The token is malformed, forged, expired, or meant for someone else."""


@dataclass(frozen=True)
class AudioGrant:
    kind: str
    """``lease`` (the item a reviewer holds), ``listen`` (a second-listen span) or
    ``case`` (an escalated item, for the safety console)."""
    subject: str
    staff_id: str
    expires_at: datetime


def _key(keyring: KeyRing) -> bytes:
    return keyring.master.derive(PURPOSE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(
    keyring: KeyRing, kind: str, subject: str, staff_id: str, now: datetime, ttl_s: int
) -> str:
    expires = int((now + timedelta(seconds=ttl_s)).timestamp())
    body = json.dumps([kind, subject, staff_id, expires], separators=(",", ":")).encode()
    mac = hmac.new(_key(keyring), body, hashlib.sha256).digest()
    return f"{_b64(body)}.{_b64(mac)}"


def issue(
    keyring: KeyRing, kind: str, subject: str, staff_id: str, now: datetime, ttl_s: int, route: str
) -> AudioUrl:
    """A link under ``route`` to ``subject``'s audio, for ``staff_id`` alone, for ``ttl_s``."""
    return AudioUrl(
        url=f"{route}/{sign(keyring, kind, subject, staff_id, now, ttl_s)}", expires_in_s=ttl_s
    )


def verify(keyring: KeyRing, token: str, staff_id: str, kind: str, now: datetime) -> AudioGrant:
    """The grant ``token`` carries, if it is genuine, current, ``staff_id``'s and a ``kind``."""
    try:
        body_text, mac_text = token.split(".")
        body, mac = _unb64(body_text), _unb64(mac_text)
    except ValueError:
        raise BadAudioToken("malformed audio link") from None
    expected = hmac.new(_key(keyring), body, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise BadAudioToken("forged audio link")
    grant_kind, subject, owner, expires = json.loads(body)
    if owner != staff_id:
        raise BadAudioToken("this audio link belongs to someone else")
    if expires <= now.timestamp():
        raise BadAudioToken("this audio link has expired")
    if grant_kind != kind:
        raise BadAudioToken(f"this audio link is for a {grant_kind}, not a {kind}")
    return AudioGrant(
        kind=grant_kind,
        subject=subject,
        staff_id=owner,
        expires_at=datetime.fromtimestamp(expires, tz=now.tzinfo),
    )
