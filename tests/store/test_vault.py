"""The vault links a review item to its recording, and only the vault does."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from earmuff.store import Store
from earmuff.store.crypto import CryptoError
from earmuff.store.models import ReviewItem, VaultEntry
from earmuff.store.vault import deposit, reveal

RECORDING_ID = "5f0c6a3e9b2d4c1a8e7f6d5c4b3a2910"


def make_item(store: Store) -> str:
    with store.db.transaction() as session:
        item = ReviewItem(locale="en-US", duration_bucket="2-5s", policy_version="test")
        session.add(item)
        session.flush()
        deposit(session, store.keyring, item.id, RECORDING_ID)
        return item.id


def test_the_vault_returns_the_recording_behind_a_review_item(store: Store) -> None:
    item_id = make_item(store)
    with store.db.transaction() as session:
        assert reveal(session, store.keyring, item_id) == RECORDING_ID
        assert reveal(session, store.keyring, "0" * 32) is None


def test_the_link_is_not_readable_in_the_database(store: Store) -> None:
    item_id = make_item(store)
    with store.db.transaction() as session:
        sealed = session.scalar(
            select(VaultEntry.recording_sealed).where(VaultEntry.review_item_id == item_id)
        )
    assert sealed is not None
    assert RECORDING_ID.encode() not in sealed
    assert bytes.fromhex(RECORDING_ID) not in sealed


def test_a_sealed_link_moved_to_another_item_does_not_open(store: Store) -> None:
    first, second = make_item(store), make_item(store)
    with store.db.transaction() as session:
        a = session.get(VaultEntry, first)
        b = session.get(VaultEntry, second)
        assert a is not None and b is not None
        a.recording_sealed, b.recording_sealed = b.recording_sealed, a.recording_sealed
    with store.db.transaction() as session, pytest.raises(CryptoError):
        reveal(session, store.keyring, first)
