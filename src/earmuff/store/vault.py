"""The vault: the only place that links a review item back to its recording.

The link is sealed under a key derived from the master key for this purpose alone, so
the database holds no readable path from what a reviewer sees to who spoke. Opening it
by hand is re-identification: :func:`reveal` opens it only for a request that a second
person approved (``review/reidentify.py`` runs the two-person rule and the audit).

Each entry also carries two blind indexes, HMACs of its account id and recording id
under a second vault-derived key. They answer the owner's questions ("withdraw every
item of my account", "delete this recording and what was made from it") with one
indexed lookup and without opening any entry; without the key a tag is a random-looking
string that matches nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.store.crypto import KeyRing, field_context, seal, unseal
from earmuff.store.models import Recording, ReidentificationRequest, VaultEntry

VAULT_PURPOSE = "earmuff vault v1"
INDEX_PURPOSE = "earmuff vault index v1"


def _tag(keyring: KeyRing, kind: str, value: str) -> str:
    key = keyring.master.derive(INDEX_PURPOSE)
    return hmac.new(key, f"{kind}|{value}".encode(), hashlib.sha256).hexdigest()


def account_tag(keyring: KeyRing, account_id: str) -> str:
    return _tag(keyring, "account", account_id)


def recording_tag(keyring: KeyRing, recording_id: str) -> str:
    return _tag(keyring, "recording", recording_id)


def deposit(
    session: Session,
    keyring: KeyRing,
    review_item_id: str,
    recording_id: str,
    account_id: str | None = None,
) -> None:
    """Record that ``review_item_id`` was made from ``recording_id``, sealed and indexed.

    Without ``account_id`` the recording's row names the account; an entry whose
    recording is unknown gets no account tag and is found by its recording alone.
    """
    if account_id is None:
        account_id = session.scalar(
            select(Recording.account_id).where(Recording.id == recording_id)
        )
    key = keyring.master.derive(VAULT_PURPOSE)
    context = field_context("vault_entries", "recording", review_item_id)
    session.add(
        VaultEntry(
            review_item_id=review_item_id,
            recording_sealed=seal(key, recording_id.encode(), context),
            account_tag=account_tag(keyring, account_id) if account_id else None,
            recording_tag=recording_tag(keyring, recording_id),
        )
    )


class VaultSealed(PermissionError):
    """The vault stays shut: the request is not an approved, live, unopened one."""


def reveal(
    session: Session, keyring: KeyRing, request: ReidentificationRequest, now: datetime
) -> str | None:
    """The recording behind an approved re-identification request, opened once.

    The only way to open a link by hand. The request is read again from the database,
    so an object built or changed in memory opens nothing: it must be approved by
    someone other than its asker, unopened, and before its deadline. The request is
    marked opened in the same transaction, so a second call fails.
    """
    stored = session.scalar(
        select(ReidentificationRequest)
        .where(ReidentificationRequest.id == request.id)
        .execution_options(populate_existing=True)
        .with_for_update()
    )
    if stored is not None and stored.opened_at is not None:
        raise VaultSealed("what this request opens was opened already")
    if stored is None or stored.status != "approved":
        raise VaultSealed("the request is not approved")
    if stored.decided_by_id is None or stored.decided_by_id == stored.requested_by_id:
        raise VaultSealed("the request was not approved by a second person")
    if stored.open_until is None or stored.open_until <= now:
        raise VaultSealed("the approval has expired: ask again")
    stored.status, stored.opened_at = "opened", now
    session.flush()
    entry = session.get(VaultEntry, stored.review_item_id)
    if entry is None:
        return None
    return _open(keyring, entry)


def _open(keyring: KeyRing, entry: VaultEntry) -> str:
    key = keyring.master.derive(VAULT_PURPOSE)
    context = field_context("vault_entries", "recording", entry.review_item_id)
    return unseal(key, entry.recording_sealed, context).decode()


def index_untagged(session: Session, keyring: KeyRing) -> int:
    """Give entries made before the blind index existed their tags; return how many.

    Only the machine opens these entries, to index them; nobody learns a link.
    """
    count = 0
    for entry in session.scalars(select(VaultEntry).where(VaultEntry.recording_tag.is_(None))):
        recording_id = _open(keyring, entry)
        entry.recording_tag = recording_tag(keyring, recording_id)
        owner = session.scalar(select(Recording.account_id).where(Recording.id == recording_id))
        if owner is not None:
            entry.account_tag = account_tag(keyring, owner)
        count += 1
    if count:
        session.flush()
    return count


def items_of_account(session: Session, keyring: KeyRing, account_id: str) -> list[str]:
    """Every review item made from the account's recordings, without opening the vault.

    A read: entries made before the index existed are found only once
    :func:`index_untagged` has run, which every deletion does first.
    """
    tag = account_tag(keyring, account_id)
    return list(
        session.scalars(
            select(VaultEntry.review_item_id)
            .where(VaultEntry.account_tag == tag)
            .order_by(VaultEntry.review_item_id)
        )
    )


def items_of_recordings(
    session: Session, keyring: KeyRing, recording_ids: Iterable[str]
) -> dict[str, list[str]]:
    """The review items made from each of ``recording_ids`` (absent: none)."""
    by_tag = {recording_tag(keyring, rid): rid for rid in recording_ids}
    found: dict[str, list[str]] = {}
    tags = list(by_tag)
    for start in range(0, len(tags), 500):
        rows = session.execute(
            select(VaultEntry.recording_tag, VaultEntry.review_item_id)
            .where(VaultEntry.recording_tag.in_(tags[start : start + 500]))
            .order_by(VaultEntry.created_at, VaultEntry.review_item_id)
        )
        for tag, item_id in rows:
            found.setdefault(by_tag[str(tag)], []).append(item_id)
    return found
