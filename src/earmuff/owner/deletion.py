"""An owner's deletions (one recording, a date range, everything) and their receipts.

Each request becomes a ``deletion_requests`` row that outlives what it deleted: what
was asked, when, what was removed (counts, never content) and a SHA-256 over all of it,
which the audit log's hash chain also records. Deleting everything also destroys the
account's data key, so any copy of its data left in a backup is unreadable.

Under a legal hold nothing is deleted: the request is kept as ``held`` and carried out
when the hold is released.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from earmuff.audit import record
from earmuff.owner.erasure import Erasure, erase_recordings, erase_review_items
from earmuff.store import Store
from earmuff.store.accounts import erased_external_id
from earmuff.store.consent import lock_account, record_consent
from earmuff.store.models import (
    Account,
    DeletionRequest,
    Device,
    IdempotencyRecord,
    Recording,
    ReviewRecord,
    utcnow,
)
from earmuff.store.vault import items_of_account

SCOPES = ("recording", "range", "everything", "retention")
SCOPE_WORDS = {
    "recording": "one recording",
    "range": "recordings in a date range",
    "everything": "all your data",
    "retention": "recordings and review copies that reached their time limit",
}


class DeletionError(ValueError):
    """The deletion cannot be done as asked; the message says why, in plain words."""


class NotFound(DeletionError):
    """No such recording in this account."""


@dataclass(frozen=True)
class Receipt:
    id: str
    scope: str
    source: str
    status: str
    requested_at: datetime
    completed_at: datetime | None
    recording_id: str | None
    range_start: datetime | None
    range_end: datetime | None
    deleted: dict[str, int] = field(default_factory=dict)
    sha256: str | None = None

    @property
    def what(self) -> str:
        return SCOPE_WORDS.get(self.scope, self.scope)

    @classmethod
    def of(cls, request: DeletionRequest) -> Receipt:
        return cls(
            id=request.id,
            scope=request.scope,
            source=request.source,
            status=request.status,
            requested_at=request.requested_at,
            completed_at=request.completed_at,
            recording_id=request.recording_id,
            range_start=request.range_start,
            range_end=request.range_end,
            deleted={k: int(v) for k, v in request.summary.get("deleted", {}).items()},
            sha256=request.receipt_sha256,
        )


def receipt_body(request: DeletionRequest) -> dict[str, Any]:
    """Everything the receipt's hash covers, in a fixed form anyone can recompute."""

    def when(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "receipt": request.id,
        "account": request.account_id,
        "scope": request.scope,
        "source": request.source,
        "recording": request.recording_id,
        "range": [when(request.range_start), when(request.range_end)],
        "requested_at": when(request.requested_at),
        "completed_at": when(request.completed_at),
        "summary": request.summary,
    }


def receipt_hash(request: DeletionRequest) -> str:
    body = json.dumps(receipt_body(request), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def verify_receipt(request: DeletionRequest) -> bool:
    return request.receipt_sha256 == receipt_hash(request)


def delete_recording(
    store: Store, account_id: str, recording_id: str, source: str, now: datetime | None = None
) -> Receipt:
    with store.db.read() as session:
        owner = session.scalar(select(Recording.account_id).where(Recording.id == recording_id))
    if owner != account_id:
        raise NotFound("no such recording in your account")
    return _request(
        store,
        DeletionRequest(account_id=account_id, scope="recording", recording_id=recording_id),
        source,
        now,
    )


def delete_range(
    store: Store,
    account_id: str,
    start: datetime,
    end: datetime,
    source: str,
    now: datetime | None = None,
) -> Receipt:
    """Delete every recording captured from ``start`` up to (not including) ``end``."""
    if start.tzinfo is None or end.tzinfo is None:
        raise DeletionError("the dates need a time zone")
    if start >= end:
        raise DeletionError("the start of the range must come before its end")
    return _request(
        store,
        DeletionRequest(account_id=account_id, scope="range", range_start=start, range_end=end),
        source,
        now,
    )


def delete_everything(
    store: Store, account_id: str, source: str, now: datetime | None = None
) -> Receipt:
    return _request(store, DeletionRequest(account_id=account_id, scope="everything"), source, now)


def _request(store: Store, request: DeletionRequest, source: str, now: datetime | None) -> Receipt:
    now = now or utcnow()
    request.source = source
    request.requested_at = now
    erasure = Erasure()
    with store.db.transaction() as session:
        lock_account(session, request.account_id)
        account = session.get(Account, request.account_id)
        if account is None:
            raise DeletionError("no such account")
        if account.deleted_at is not None:
            raise DeletionError("all data of this account was already deleted")
        held = account.legal_hold_reason is not None
        request.status = "held" if held else "in_progress"
        request.summary = {}
        session.add(request)
        if held:
            session.flush()
            record(
                session,
                source,
                "deletion.held",
                f"account:{account.id}",
                {"request": request.id, "scope": request.scope},
            )
            return Receipt.of(request)
        carry_out(session, store, account, request, now, erasure)
        receipt = Receipt.of(request)
    erasure.finish(store)
    return receipt


def carry_out(
    session: Session,
    store: Store,
    account: Account,
    request: DeletionRequest,
    now: datetime,
    erasure: Erasure,
) -> None:
    """Do what ``request`` asks, complete its receipt and audit it, in the caller's
    transaction; the caller calls ``erasure.finish`` after commit."""
    query = select(Recording.id).where(Recording.account_id == account.id)
    if request.scope == "recording":
        query = query.where(Recording.id == request.recording_id)
    elif request.scope == "range":
        query = query.where(
            Recording.captured_at >= request.range_start,
            Recording.captured_at < request.range_end,
        )
    elif request.scope != "everything":
        raise DeletionError(f"{request.scope!r} is not a deletion an owner can ask for")
    ids = list(session.scalars(query))
    erase_recordings(session, store.keyring, store.blobs, ids, erasure)
    if request.scope == "everything":
        _forget_account(session, store, account, now, erasure)
    complete(session, request, erasure, now)


def complete(session: Session, request: DeletionRequest, erasure: Erasure, now: datetime) -> None:
    request.status = "done"
    request.completed_at = now
    request.summary = {
        "deleted": erasure.counts(),
        "recording_ids_sha256": hashlib.sha256(
            "\n".join(sorted(erasure.recording_ids)).encode()
        ).hexdigest(),
        "account_key_destroyed": request.scope == "everything",
    }
    session.flush()
    request.receipt_sha256 = receipt_hash(request)
    record(
        session,
        request.source,
        "deletion.completed",
        f"account:{request.account_id}",
        {
            "request": request.id,
            "scope": request.scope,
            "deleted": erasure.counts(),
            "receipt_sha256": request.receipt_sha256,
        },
    )


def _forget_account(
    session: Session, store: Store, account: Account, now: datetime, erasure: Erasure
) -> None:
    """Everything beyond the recordings: review copies whose recording is already gone,
    the owner's sealed history, the devices, the name, the account number (the row stays,
    for the receipts, under an id that says nothing), and last the data key itself."""
    erase_review_items(session, items_of_account(session, store.keyring, account.id), erasure)
    session.execute(delete(ReviewRecord).where(ReviewRecord.account_id == account.id))
    device_ids = list(session.scalars(select(Device.id).where(Device.account_id == account.id)))
    if device_ids:
        session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.device_id.in_(device_ids))
        )
        session.execute(delete(Device).where(Device.id.in_(device_ids)))
    record_consent(session, account.id, "withdrawn", "deletion", None)
    account.first_name_sealed = None
    account.external_id = erased_external_id(account.id)
    account.deleted_at = now
    store.keyring.destroy_account_key(session, account.id)


def receipts(session: Session, account_id: str) -> list[Receipt]:
    rows = session.scalars(
        select(DeletionRequest)
        .where(DeletionRequest.account_id == account_id)
        .order_by(DeletionRequest.requested_at.desc(), DeletionRequest.id)
    )
    return [Receipt.of(row) for row in rows]


def receipt(session: Session, account_id: str, receipt_id: str) -> Receipt | None:
    row = session.get(DeletionRequest, receipt_id)
    if row is None or row.account_id != account_id:
        return None
    return Receipt.of(row)


def carry_out_held(store: Store, account_id: str, now: datetime | None = None) -> list[Receipt]:
    """Carry out the account's requests that waited for a legal hold to end."""
    now = now or utcnow()
    done: list[Receipt] = []
    erasure = Erasure()
    with store.db.transaction() as session:
        lock_account(session, account_id)
        account = session.get(Account, account_id)
        if account is None or account.legal_hold_reason is not None:
            return []
        held = session.scalars(
            select(DeletionRequest)
            .where(DeletionRequest.account_id == account_id, DeletionRequest.status == "held")
            .order_by(DeletionRequest.requested_at)
        ).all()
        for request in held:
            if account.deleted_at is not None:
                request.status = "done"
                request.completed_at = now
                request.summary = {"deleted": Erasure().counts(), "superseded": True}
                request.receipt_sha256 = receipt_hash(request)
                done.append(Receipt.of(request))
                continue
            part = Erasure()
            carry_out(session, store, account, request, now, part)
            erasure.blobs.extend(part.blobs)
            done.append(Receipt.of(request))
    erasure.finish(store)
    return done
