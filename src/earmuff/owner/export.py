"""A copy of everything earmuff holds about a household (GDPR art. 15 and 20).

One ZIP, streamed as it is made so that no plaintext audio touches a disk: ``data.json``
(the account, its devices, every consent change with the exact text shown, every
recording with what happened to it and who reviewed it, the deletion receipts) and the
stored audio of each recording, as WAV files.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import select

from earmuff.audit.log import record
from earmuff.owner.deletion import receipts
from earmuff.owner.transparency import as_json, recording_view, transparency_report
from earmuff.store import Store
from earmuff.store.accounts import first_name
from earmuff.store.crypto import CryptoError
from earmuff.store.models import (
    Account,
    ConsentChange,
    Device,
    DisclosureText,
    Recording,
    utcnow,
)
from earmuff.store.recordings import read_audio


class _Pipe:
    """A write-only file for ``zipfile`` that hands its bytes on instead of keeping them."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing is buffered beyond what :meth:`drain` hands on."""

    def close(self) -> None:
        """The archive's end is handed on by the last :meth:`drain`."""

    def drain(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def account_data(store: Store, account_id: str, now: datetime | None = None) -> dict[str, Any]:
    """Everything about the account except the audio itself, as JSON-ready data."""
    now = now or utcnow()
    with store.db.read() as session:
        account = session.get(Account, account_id)
        if account is None:
            raise LookupError(account_id)
        try:
            name = first_name(session, store.keyring, account)
        except CryptoError:
            name = None
        consents = session.scalars(
            select(ConsentChange)
            .where(ConsentChange.account_id == account_id)
            .order_by(ConsentChange.changed_at, ConsentChange.id)
        ).all()
        shown = {c.disclosure_sha256 for c in consents if c.disclosure_sha256}
        texts = {
            row.sha256: row.text
            for row in session.scalars(
                select(DisclosureText).where(DisclosureText.sha256.in_(sorted(shown)))
            )
        }
        recording_ids = session.scalars(
            select(Recording.id)
            .where(Recording.account_id == account_id)
            .order_by(Recording.captured_at)
        ).all()
        views = [recording_view(session, store, account_id, rid) for rid in recording_ids]
        devices = session.scalars(select(Device).where(Device.account_id == account_id)).all()
        return {
            "exported_at": now.isoformat(),
            "account": {
                "account_number": account.external_id,
                "first_name": name,
                "created_at": account.created_at.isoformat(),
                "child_profile": account.is_child_profile,
                "raw_retention": account.raw_retention,
                "on_legal_hold": account.legal_hold_reason is not None,
                "data_deleted_at": account.deleted_at.isoformat() if account.deleted_at else None,
            },
            "devices": [
                {
                    "serial": d.serial,
                    "registered_at": d.created_at.isoformat(),
                    "child_profile": d.is_child_profile,
                    "revoked_at": d.revoked_at.isoformat() if d.revoked_at else None,
                }
                for d in devices
            ],
            "consent_history": [
                {
                    "at": c.changed_at.isoformat(),
                    "human_review": c.human_review,
                    "source": c.source,
                    "disclosure_version": c.disclosure_version,
                    "disclosure_sha256": c.disclosure_sha256,
                    "disclosure_text": texts.get(c.disclosure_sha256 or ""),
                }
                for c in consents
            ],
            "transparency_report": as_json(transparency_report(session, store, account_id, now)),
            "recordings": [as_json(view) for view in views if view is not None],
            "deletion_receipts": as_json(receipts(session, account_id)),
        }


def audited_export(store: Store, account_id: str, via: str) -> Iterator[bytes]:
    """Record that the household took a copy of everything, then stream the ZIP.

    Recorded before the first byte leaves: a copy that was cut off part-way was still
    a copy asked for.
    """
    with store.db.transaction() as session:
        record(
            session, f"owner:{account_id}", "owner.exported", f"account:{account_id}", {"via": via}
        )
    return export_zip(store, account_id)


def export_zip(store: Store, account_id: str, now: datetime | None = None) -> Iterator[bytes]:
    """The ZIP, chunk by chunk: ``data.json`` first, then one WAV per stored recording."""
    data = account_data(store, account_id, now)
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("data.json", json.dumps(data, indent=2, ensure_ascii=False))
        yield pipe.drain()
        for entry in data["recordings"]:
            summary = entry["summary"]
            if not summary["audio_stored"]:
                continue
            with store.db.read() as session:
                recording = session.get(Recording, summary["id"])
                if recording is None or recording.blob_key is None:
                    continue
                try:
                    audio = read_audio(session, store.keyring, store.blobs, recording)
                except (CryptoError, KeyError):
                    continue
            stamp = recording.captured_at.strftime("%Y%m%dT%H%M%SZ")
            archive.writestr(f"audio/{stamp}_{recording.id}.wav", audio)
            yield pipe.drain()
    yield pipe.drain()
