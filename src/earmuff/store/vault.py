"""The vault: the only place that links a review item back to its recording.

The link is sealed under a key derived from the master key for this purpose alone, so
the database holds no readable path from what a reviewer sees to who spoke. Opening it
is re-identification; the two-person rule and audit around it belong to the caller.

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

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.store.crypto import KeyRing, field_context, seal, unseal
from earmuff.store.models import Recording, VaultEntry

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


def reveal(session: Session, keyring: KeyRing, review_item_id: str) -> str | None:
    """The recording behind ``review_item_id``, or None when the vault holds no link."""
    entry = session.get(VaultEntry, review_item_id)
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
