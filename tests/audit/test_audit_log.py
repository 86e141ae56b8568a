"""The hash-chained audit log: appends verify, and any edit to the past is caught."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import delete, select

from earmuff.audit.log import GENESIS, AuditChainBroken, event_hash, record, verify
from earmuff.store import Store
from earmuff.store.models import AuditEvent
from tests.audit.insider import unseal_audit_table

EVENTS = [
    ("system", "recording.ingested", "rec-1", {"duration_s": 2.5, "format": "wav"}),
    ("reviewer:r-17", "review.played", "item-9", {"seconds": [0, 4.25], "ok": True}),
    ("admin:a-1", "vault.reidentify.requested", "item-9", {"reason": "safety — Fall 12"}),
    ("system", "account.key.destroyed", "acct-3", {}),
    ("owner:acct-3", "consent.changed", "acct-3", {"human_review": "no", "n": None}),
]


def record_events(store: Store, count: int = len(EVENTS)) -> list[int]:
    """Record ``count`` events, each in its own transaction; return their ids in order."""
    ids = []
    for actor, action, subject, details in EVENTS[:count]:
        with store.db.transaction() as session:
            ids.append(record(session, actor, action, subject, details).id)
    return ids


def tamper(store: Store, count: int = len(EVENTS)) -> list[int]:
    """Record events, then take the insider's way past the append-only triggers."""
    ids = record_events(store, count)
    unseal_audit_table(store)
    return ids


def broken_at(store: Store) -> int:
    with store.db.transaction() as session, pytest.raises(AuditChainBroken) as caught:
        verify(session)
    return caught.value.event_id


def swap_contents(store: Store, first_id: int, second_id: int) -> None:
    """Swap two events' contents and hashes: the rows trade places in the chain.

    The hash column is unique, so the hashes move through a placeholder one at a time.
    """
    columns = ("occurred_at", "actor", "action", "subject", "details", "prev_hash", "hash")
    with store.db.transaction() as session:
        a, b = session.get(AuditEvent, first_id), session.get(AuditEvent, second_id)
        assert a is not None and b is not None
        values_a = {c: getattr(a, c) for c in columns}
        values_b = {c: getattr(b, c) for c in columns}
        a.hash = "placeholder"
        session.flush()
        for column in columns:
            setattr(b, column, values_a[column])
        session.flush()
        for column in columns:
            setattr(a, column, values_b[column])


def test_an_empty_log_verifies_with_zero_events(store: Store) -> None:
    with store.db.transaction() as session:
        assert verify(session) == 0


def test_recorded_events_verify_and_the_count_is_returned(store: Store) -> None:
    record_events(store)
    with store.db.transaction() as session:
        assert verify(session) == len(EVENTS)


def test_each_event_chains_onto_the_one_before_it(store: Store) -> None:
    ids = record_events(store)
    with store.db.transaction() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert [e.id for e in events] == ids
    assert events[0].prev_hash == GENESIS
    for before, after in itertools.pairwise(events):
        assert after.prev_hash == before.hash
    assert len({e.hash for e in events}) == len(events)


def test_events_recorded_in_one_transaction_chain_too(store: Store) -> None:
    with store.db.transaction() as session:
        for actor, action, subject, details in EVENTS:
            record(session, actor, action, subject, details)
    with store.db.transaction() as session:
        assert verify(session) == len(EVENTS)


def test_events_without_details_store_an_empty_object(store: Store) -> None:
    with store.db.transaction() as session:
        event_id = record(session, "system", "startup", "earmuff").id
    with store.db.transaction() as session:
        assert session.get(AuditEvent, event_id).details == {}
        assert verify(session) == 1


def test_a_rolled_back_event_leaves_no_gap_in_the_chain(store: Store) -> None:
    record_events(store, 2)
    with pytest.raises(RuntimeError), store.db.transaction() as session:
        record(session, "system", "doomed", "x")
        raise RuntimeError("the surrounding work failed")
    record_events(store, 1)
    with store.db.transaction() as session:
        assert verify(session) == 3


@pytest.mark.parametrize(
    "field",
    ["details", "actor", "action", "subject", "occurred_at"],
)
def test_editing_any_field_of_a_past_event_breaks_the_chain_at_that_event(
    store: Store, field: str
) -> None:
    ids = tamper(store)
    target = ids[2]
    with store.db.transaction() as session:
        event = session.get(AuditEvent, target)
        if field == "details":
            event.details = {**event.details, "reason": "nothing to see"}
        elif field == "occurred_at":
            event.occurred_at = event.occurred_at - timedelta(microseconds=1)
        else:
            setattr(event, field, getattr(event, field) + "x")
    assert broken_at(store) == target


def test_editing_an_event_and_recomputing_its_hash_breaks_the_chain_at_the_next_event(
    store: Store,
) -> None:
    """Covering tracks on one event is not enough: the next event vouches for it."""
    ids = tamper(store)
    with store.db.transaction() as session:
        forged = session.get(AuditEvent, ids[1])
        forged.details = {"seconds": [0, 0], "ok": True}
        session.flush()
    with store.db.transaction() as session:
        forged = session.get(AuditEvent, ids[1])
        forged.hash = event_hash(
            forged.prev_hash,
            forged.occurred_at,
            forged.actor,
            forged.action,
            forged.subject,
            forged.details,
        )
    assert broken_at(store) == ids[2]


def test_deleting_a_middle_event_breaks_the_chain_at_the_event_after_it(store: Store) -> None:
    ids = tamper(store)
    with store.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == ids[2]))
    assert broken_at(store) == ids[3]


def test_deleting_the_first_event_breaks_the_chain_at_the_new_first_event(store: Store) -> None:
    ids = tamper(store)
    with store.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == ids[0]))
    assert broken_at(store) == ids[1]


def test_reordering_two_events_breaks_the_chain_at_the_earlier_position(store: Store) -> None:
    ids = tamper(store)
    swap_contents(store, ids[1], ids[2])
    assert broken_at(store) == ids[1]


def test_reordering_the_first_two_events_is_caught_too(store: Store) -> None:
    ids = tamper(store)
    swap_contents(store, ids[0], ids[1])
    assert broken_at(store) == ids[0]


def test_the_error_names_the_event_in_its_message(store: Store) -> None:
    ids = tamper(store)
    with store.db.transaction() as session:
        session.get(AuditEvent, ids[3]).subject = "someone-else"
    with store.db.transaction() as session, pytest.raises(AuditChainBroken, match=f"{ids[3]}:"):
        verify(session)


def test_cutting_off_the_newest_events_shows_only_in_the_count(store: Store) -> None:
    """A known limit of a bare chain: a truncated tail still verifies, with fewer events.

    The signed checkpoints catch it (tests/audit/test_checkpoints.py).
    """
    ids = tamper(store)
    with store.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == ids[-1]))
        assert verify(session) == len(EVENTS) - 1


def test_appending_after_a_tampered_event_does_not_heal_the_chain(store: Store) -> None:
    ids = tamper(store, 3)
    with store.db.transaction() as session:
        session.get(AuditEvent, ids[1]).actor = "nobody"
    record_events(store, 2)
    assert broken_at(store) == ids[1]
