"""Re-identification takes two people, opens only what was approved, once, and leaves a
trace for the auditors and for the household; nothing else in earmuff opens the vault."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from earmuff.owner.holds import place_hold
from earmuff.review import reidentify as service
from earmuff.review.reidentify import ReidentificationError, ReidentificationForbidden
from earmuff.store import Store
from earmuff.store.models import AuditEvent, ReidentificationRequest, StaffUser, utcnow
from earmuff.store.vault import VaultSealed, reveal
from tests.review.conftest import Household, household_recording, make_item, make_staff

SRC = Path(__file__).parents[2] / "src" / "earmuff"


def people(store: Store) -> dict[str, StaffUser]:
    with store.db.transaction() as session:
        return {
            "asker": make_staff(session, "sofia", "safety_officer"),
            "other_asker": make_staff(session, "sam", "safety_officer"),
            "decider": make_staff(session, "priya", "privacy_officer"),
            "annotator": make_staff(session, "ann", "annotator"),
            "admin": make_staff(session, "ada", "admin"),
        }


@pytest.fixture
def case(store: Store) -> tuple[dict[str, StaffUser], Household, str]:
    household = household_recording(store)
    item_id = make_item(store, recording_id=household.recording_id)
    return people(store), household, item_id


def ask(store: Store, asker: StaffUser, item_id: str, fields: str = "account_number,locale") -> str:
    with store.db.transaction() as session:
        made = service.request_reidentification(
            session, store.keyring, asker, item_id, "caller said she is in danger", fields
        )
        return made.id


def approve(store: Store, decider: StaffUser, request_id: str, **options: object) -> None:
    with store.db.transaction() as session:
        service.approve(
            session,
            store.keyring,
            decider,
            request_id,
            "procedure step 4",
            **options,  # type: ignore[arg-type]
        )


def open_it(store: Store, asker: StaffUser, request_id: str) -> dict[str, str]:
    with store.db.transaction() as session:
        return service.open_fields(session, store.keyring, asker, request_id).fields


def actions(store: Store) -> list[str]:
    with store.db.read() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.seq)))


def test_an_approved_request_opens_the_named_fields_once(store: Store, case) -> None:
    staff, household, item_id = case
    request_id = ask(store, staff["asker"], item_id)
    approve(store, staff["decider"], request_id)
    assert open_it(store, staff["asker"], request_id) == {
        "account_number": household.account_external_id,
        "locale": "en-US",
    }
    with pytest.raises(ReidentificationError, match="opened already"):
        open_it(store, staff["asker"], request_id)
    assert [a for a in actions(store) if a.startswith("reidentification.")] == [
        "reidentification.requested",
        "reidentification.approved",
        "reidentification.opened",
    ]


def test_nothing_opens_before_a_second_person_approves(store: Store, case) -> None:
    staff, _, item_id = case
    request_id = ask(store, staff["asker"], item_id)
    with pytest.raises(ReidentificationError, match="not approved"):
        open_it(store, staff["asker"], request_id)


def test_the_asker_cannot_decide_and_only_a_privacy_officer_can(store: Store, case) -> None:
    staff, _, item_id = case
    request_id = ask(store, staff["asker"], item_id)
    for who in ("asker", "other_asker", "annotator", "admin"):
        with pytest.raises(ReidentificationForbidden):
            approve(store, staff[who], request_id)
    with store.db.transaction() as session:
        session.get(StaffUser, staff["asker"].id).role = "privacy_officer"
        asker_now_officer = session.get(StaffUser, staff["asker"].id)
    with pytest.raises(ReidentificationForbidden, match="own request"):
        approve(store, asker_now_officer, request_id)


def test_only_the_asker_opens_and_only_a_safety_officer_asks(store: Store, case) -> None:
    staff, _, item_id = case
    for who in ("decider", "annotator", "admin"):
        with pytest.raises(ReidentificationForbidden):
            ask(store, staff[who], item_id)
    request_id = ask(store, staff["asker"], item_id)
    approve(store, staff["decider"], request_id)
    with pytest.raises(ReidentificationForbidden, match="person who asked"):
        open_it(store, staff["other_asker"], request_id)


def test_an_approval_expires(store: Store, case) -> None:
    staff, _, item_id = case
    request_id = ask(store, staff["asker"], item_id)
    approve(store, staff["decider"], request_id, open_for=timedelta(minutes=5))
    with store.db.transaction() as session, pytest.raises(ReidentificationError, match="expired"):
        service.open_fields(
            session, store.keyring, staff["asker"], request_id, now=utcnow() + timedelta(minutes=6)
        )


def test_refused_and_withdrawn_requests_open_nothing(store: Store, case) -> None:
    staff, _, item_id = case
    refused = ask(store, staff["asker"], item_id)
    with store.db.transaction() as session:
        service.refuse(session, staff["decider"], refused, "not what the procedure allows")
    withdrawn = ask(store, staff["asker"], item_id)
    with store.db.transaction() as session:
        service.withdraw(session, staff["asker"], withdrawn)
    for request_id in (refused, withdrawn):
        with pytest.raises(ReidentificationError):
            open_it(store, staff["asker"], request_id)
        with pytest.raises(ReidentificationError, match="already"):
            approve(store, staff["decider"], request_id)


@pytest.mark.parametrize(
    ("item", "fields", "reason", "message"),
    [
        ("nope", "locale", "r", "no review item"),
        (None, "", "r", "at least one field"),
        (None, "password", "r", "unknown field"),
        (None, "locale", "   ", "reason is required"),
        (None, "locale", "x" * 2001, "longer than"),
    ],
)
def test_a_bad_request_is_refused_and_changes_nothing(
    store: Store, case, item: str | None, fields: str, reason: str, message: str
) -> None:
    staff, _, item_id = case
    before = actions(store)
    with store.db.transaction() as session, pytest.raises(ReidentificationError, match=message):
        service.request_reidentification(
            session, store.keyring, staff["asker"], item or item_id, reason, fields
        )
    with store.db.read() as session:
        assert session.scalars(select(ReidentificationRequest)).all() == []
    assert actions(store) == before


def test_the_household_sees_every_request_unless_a_legal_hold_defers_it(store: Store, case) -> None:
    staff, household, item_id = case
    told = ask(store, staff["asker"], item_id)
    approve(store, staff["decider"], told)
    open_it(store, staff["asker"], told)
    deferred = ask(store, staff["asker"], item_id, "device_serial")
    later = utcnow() + timedelta(days=30)
    with pytest.raises(ReidentificationError, match="legal hold"):
        approve(store, staff["decider"], deferred, disclose_after=later)
    with store.db.transaction() as session:
        place_hold(session, household.account_id, "court order 12", staff["decider"])
    approve(store, staff["decider"], deferred, disclose_after=later)
    with store.db.read() as session:
        now_seen = service.notices_for_account(
            session, store.keyring, household.account_id, utcnow()
        )
        then_seen = service.notices_for_account(
            session, store.keyring, household.account_id, later + timedelta(seconds=1)
        )
    assert [(n.state, n.fields) for n in now_seen] == [
        ("opened", ["account number", "language setting"])
    ]
    assert len(then_seen) == 2


def test_the_household_still_sees_it_after_the_item_is_gone(store: Store, case) -> None:
    staff, household, item_id = case
    request_id = ask(store, staff["asker"], item_id)
    with store.db.transaction() as session:
        service.refuse(session, staff["decider"], request_id, "no")
        from earmuff.store.models import ReviewItem, VaultEntry

        session.delete(session.get(VaultEntry, item_id))
        session.delete(session.get(ReviewItem, item_id))
    with store.db.read() as session:
        seen = service.notices_for_account(session, store.keyring, household.account_id, utcnow())
    assert [n.state for n in seen] == ["refused"]


def test_the_vault_rechecks_the_request_in_the_database(store: Store, case) -> None:
    """A request object approved in memory, or forged, opens nothing."""
    staff, _, item_id = case
    request_id = ask(store, staff["asker"], item_id)
    with store.db.transaction() as session:
        request = session.get(ReidentificationRequest, request_id)
        request.status, request.decided_by_id = "approved", staff["decider"].id
        request.open_until = utcnow() + timedelta(hours=1)
        session.expunge(request)
    with store.db.transaction() as session, pytest.raises(VaultSealed, match="not approved"):
        reveal(session, store.keyring, request, utcnow())
    forged = ReidentificationRequest(id="f" * 32, review_item_id=item_id, status="approved")
    with store.db.transaction() as session, pytest.raises(VaultSealed):
        reveal(session, store.keyring, forged, utcnow())


def test_only_the_reidentification_service_calls_the_vault_open() -> None:
    """The import check: ``reveal`` is called from one module; ``_open`` never leaves the
    vault. A new caller fails this test and must go through the two-person rule."""
    callers: dict[str, set[str]] = {"reveal": set(), "_open": set()}
    for path in SRC.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Name):
                name = node.id
            elif isinstance(node, ast.Attribute) and (
                not isinstance(node.value, ast.Name) or node.value.id != "self"
            ):
                name = node.attr
            elif isinstance(node, ast.alias):
                name = node.name
            if name in callers:
                callers[name].add(str(path.relative_to(SRC)))
    assert callers["reveal"] == {"review/reidentify.py"}
    assert callers["_open"] == {"store/vault.py"}
