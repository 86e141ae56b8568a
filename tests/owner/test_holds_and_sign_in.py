"""Legal holds are a privacy officer's alone; owners sign in once per link, briefly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from earmuff.owner.holds import HoldError, HoldForbidden, release_legal_hold, set_legal_hold
from earmuff.owner.login import authenticate, end_session, issue_login_link, redeem_login_link
from earmuff.store.models import (
    Account,
    AuditEvent,
    LegalHold,
    OwnerLoginLink,
    OwnerSession,
    utcnow,
)
from tests.owner.conftest import World


@pytest.mark.parametrize("role", ["annotator", "qa_reviewer", "safety_officer", "admin"])
def test_only_a_privacy_officer_may_set_a_hold(world: World, role: str) -> None:
    home = world.home()
    with pytest.raises(HoldForbidden):
        set_legal_hold(world.store, home.account_id, "a reason", world.staff(role))
    with world.store.db.read() as session:
        account = session.get(Account, home.account_id)
        assert account is not None and account.legal_hold_reason is None


def test_a_hold_needs_a_reason_and_its_history_is_kept(world: World) -> None:
    home = world.home()
    officer = world.staff("privacy_officer")
    with pytest.raises(HoldError, match="reason"):
        set_legal_hold(world.store, home.account_id, "   ", officer)
    set_legal_hold(world.store, home.account_id, "subpoena 12", officer)
    with pytest.raises(HoldError, match="already"):
        set_legal_hold(world.store, home.account_id, "again", officer)
    with pytest.raises(HoldError, match="note"):
        release_legal_hold(world.store, home.account_id, officer, "")
    release_legal_hold(world.store, home.account_id, officer, "withdrawn by the court")
    with pytest.raises(HoldError, match="not on legal hold"):
        release_legal_hold(world.store, home.account_id, officer, "twice")
    with world.store.db.read() as session:
        (hold,) = session.scalars(select(LegalHold)).all()
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == f"staff:{officer.id}")
        ).all()
        account = session.get(Account, home.account_id)
    assert (hold.reason, hold.set_by_id, hold.released_by_id) == (
        "subpoena 12",
        officer.id,
        officer.id,
    )
    assert hold.release_note == "withdrawn by the court" and hold.released_at is not None
    assert actions == ["legal_hold.set", "legal_hold.released"]
    assert account is not None and account.legal_hold_reason is None


def test_an_inactive_officer_cannot_hold(world: World) -> None:
    home = world.home()
    officer = world.staff("privacy_officer")
    officer.active = False
    with pytest.raises(HoldForbidden):
        set_legal_hold(world.store, home.account_id, "reason", officer)


def test_a_link_signs_in_once_and_only_its_hash_is_stored(world: World) -> None:
    home = world.home()
    rules = world.store.settings.policy.owner
    with world.store.db.transaction() as session:
        token, expires_at = issue_login_link(session, home.external_id, rules)
    assert token.startswith("eml_") and len(token) > 40
    assert expires_at - utcnow() <= timedelta(minutes=rules.login_link_minutes)
    with world.store.db.transaction() as session:
        signed = redeem_login_link(session, token, rules, "api")
        again = redeem_login_link(session, token, rules, "api")
    assert signed is not None and signed.account_id == home.account_id and signed.token
    assert again is None
    with world.store.db.read() as session:
        stored = [row.token_hash for row in session.scalars(select(OwnerLoginLink))]
        stored += [row.token_hash for row in session.scalars(select(OwnerSession))]
        assert token not in stored and signed.token not in stored
        assert authenticate(session, signed.token) is not None
        later = utcnow() + timedelta(minutes=rules.session_minutes + 1)
        assert authenticate(session, signed.token, later) is None
    with world.store.db.transaction() as session:
        end_session(session, signed.token, "api")
    with world.store.db.read() as session:
        assert authenticate(session, signed.token) is None


def test_an_expired_or_unknown_link_signs_nobody_in(world: World) -> None:
    home = world.home()
    rules = world.store.settings.policy.owner
    with world.store.db.transaction() as session:
        token, _ = issue_login_link(session, home.external_id, rules)
        late = utcnow() + timedelta(minutes=rules.login_link_minutes + 1)
        assert redeem_login_link(session, token, rules, "api", late) is None
        assert redeem_login_link(session, "eml_" + "x" * 43, rules, "api") is None
        assert redeem_login_link(session, "not a token", rules, "api") is None
