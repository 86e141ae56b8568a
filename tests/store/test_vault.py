"""The vault links a review item to its recording, and only the vault does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from earmuff.store import Store
from earmuff.store.crypto import CryptoError
from earmuff.store.models import ReidentificationRequest, ReviewItem, StaffUser, VaultEntry, utcnow
from earmuff.store.vault import deposit, reveal

RECORDING_ID = "5f0c6a3e9b2d4c1a8e7f6d5c4b3a2910"


def make_item(store: Store) -> str:
    with store.db.transaction() as session:
        item = ReviewItem(locale="en-US", duration_bucket="2-5s", policy_version="test")
        session.add(item)
        session.flush()
        deposit(session, store.keyring, item.id, RECORDING_ID)
        return item.id


def approved(store: Store, item_id: str) -> ReidentificationRequest:
    """A request approved by a second person, as ``review/reidentify.py`` leaves one."""
    with store.db.transaction() as session:
        asker = StaffUser(username=f"s{item_id[:8]}", password_hash="-", role="safety_officer")
        decider = StaffUser(username=f"p{item_id[:8]}", password_hash="-", role="privacy_officer")
        session.add_all([asker, decider])
        session.flush()
        request = ReidentificationRequest(
            review_item_id=item_id,
            requested_by_id=asker.id,
            reason="test",
            fields=["locale"],
            status="approved",
            decided_by_id=decider.id,
            decided_at=utcnow(),
            open_until=utcnow() + timedelta(hours=1),
        )
        session.add(request)
    return request


def test_the_vault_returns_the_recording_behind_an_approved_request(store: Store) -> None:
    item_id = make_item(store)
    request = approved(store, item_id)
    with store.db.transaction() as session:
        assert reveal(session, store.keyring, request, utcnow()) == RECORDING_ID
    nothing = approved(store, "0" * 32)
    with store.db.transaction() as session:
        assert reveal(session, store.keyring, nothing, utcnow()) is None


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
    request = approved(store, first)
    with store.db.transaction() as session, pytest.raises(CryptoError):
        reveal(session, store.keyring, request, utcnow())
