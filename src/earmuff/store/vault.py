"""The vault: the only place that links a review item back to its recording.

The link is sealed under a key derived from the master key for this purpose alone, so
the database holds no readable path from what a reviewer sees to who spoke. Opening it
is re-identification; the two-person rule and audit around it belong to the caller.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from earmuff.store.crypto import KeyRing, field_context, seal, unseal
from earmuff.store.models import VaultEntry

VAULT_PURPOSE = "earmuff vault v1"


def deposit(session: Session, keyring: KeyRing, review_item_id: str, recording_id: str) -> None:
    """Record that ``review_item_id`` was made from ``recording_id``, sealed."""
    key = keyring.master.derive(VAULT_PURPOSE)
    context = field_context("vault_entries", "recording", review_item_id)
    session.add(
        VaultEntry(
            review_item_id=review_item_id,
            recording_sealed=seal(key, recording_id.encode(), context),
        )
    )


def reveal(session: Session, keyring: KeyRing, review_item_id: str) -> str | None:
    """The recording behind ``review_item_id``, or None when the vault holds no link."""
    entry = session.get(VaultEntry, review_item_id)
    if entry is None:
        return None
    key = keyring.master.derive(VAULT_PURPOSE)
    context = field_context("vault_entries", "recording", review_item_id)
    return unseal(key, entry.recording_sealed, context).decode()
