"""No admin can become a listener: two admins propose and approve, the person enrols.

Admin A proposes, a different admin B approves; A gets the link and B the code, and
only both together let the person choose a password and scan their own TOTP secret.
No response an admin receives ever carries either.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from earmuff.review.enrolment import MAX_WRONG_CODES
from earmuff.store import Store
from earmuff.store.models import (
    AuditEvent,
    StaffEnrolment,
    StaffProposal,
    StaffSession,
    StaffUser,
)
from earmuff.web import create_app
from tests.workbench.staff import Person, add_person, sign_in

NEW_PASSWORD = "correct horse battery staple"


@dataclass
class Admin:
    """A signed-in admin and every page they were sent."""

    person: Person
    client: TestClient
    csrf: str = ""
    seen: list[str] = field(default_factory=list)

    def post(self, path: str, **data: str) -> tuple[int, str]:
        response = self.client.post(
            path, data={"csrf_token": self.csrf, **data}, follow_redirects=True
        )
        self.seen.append(response.text)
        return response.status_code, response.text

    def page(self) -> str:
        text = self.client.get("/admin/users").text
        self.seen.append(text)
        return text


@pytest.fixture
def admins(store: Store) -> Iterator[tuple[Admin, Admin]]:
    """Ada and Bo, admins, each signed in in their own browser."""
    with (
        TestClient(create_app(store=store), base_url="https://testserver") as one,
        TestClient(create_app(store=store), base_url="https://testserver") as two,
    ):
        ada = Admin(add_person(store, "ada", "admin"), one)
        bo = Admin(add_person(store, "bo", "admin"), two)
        ada.csrf, bo.csrf = sign_in(one, ada.person), sign_in(two, bo.person)
        yield ada, bo


@pytest.fixture
def anonymous(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store=store), base_url="https://testserver") as client:
        yield client


def proposal_of(store: Store, username: str, status: str = "pending") -> StaffProposal:
    with store.db.read() as session:
        found = session.scalars(
            select(StaffProposal)
            .where(StaffProposal.username == username, StaffProposal.status == status)
            .order_by(StaffProposal.proposed_at.desc())
        ).first()
    assert found is not None, f"no {status} proposal for {username}"
    return found


def shown(html: str, element: str) -> str:
    match = re.search(rf'<code id="{element}">([^<]+)</code>', html)
    assert match, f"the page shows no {element}"
    return match.group(1)


def approve_and_link(store: Store, ada: Admin, bo: Admin, username: str) -> tuple[str, str]:
    """Bo approves Ada's proposal for ``username``: Bo is shown the code, Ada the link."""
    proposal = proposal_of(store, username)
    status, html = bo.post(f"/admin/proposals/{proposal.id}", action="approve")
    assert status == 200, html
    code = shown(html, "code")
    assert 'id="link"' not in html
    status, html = ada.post(f"/admin/proposals/{proposal.id}", action="link")
    assert status == 200, html
    assert code not in html
    return shown(html, "link").removeprefix("https://testserver"), code


def propose_account(ada: Admin, username: str, role: str = "annotator") -> None:
    status, html = ada.post("/admin/users", username=username, role=role, locales="en-US")
    assert status == 201, html


def enrol(client: TestClient, path: str, code: str, password: str = NEW_PASSWORD) -> str:
    """The person's side: the code, then a password and a current code; returns the
    TOTP secret they scanned."""
    assert client.get(path).status_code == 200
    setup = client.post(path, data={"approval_code": code})
    assert setup.status_code == 200, setup.text
    assert "<svg" in setup.text
    secret = shown(setup.text, "manual-key")
    done = client.post(
        path,
        data={
            "approval_code": code,
            "password": password,
            "password_again": password,
            "code": pyotp.TOTP(secret).now(),
        },
    )
    assert done.status_code == 200, done.text
    assert 'id="enrolled"' in done.text
    return secret


def actions(store: Store) -> list[AuditEvent]:
    with store.db.read() as session:
        return list(session.scalars(select(AuditEvent).order_by(AuditEvent.seq)))


def test_a_new_account_needs_two_admins_and_neither_sees_its_secrets(
    store: Store, admins: tuple[Admin, Admin], anonymous: TestClient
) -> None:
    ada, bo = admins
    propose_account(ada, "cara")
    with store.db.read() as session:
        assert session.scalar(select(StaffUser).where(StaffUser.username == "cara")) is None
    assert "cara" in bo.page()
    path, code = approve_and_link(store, ada, bo, "cara")
    secret = enrol(anonymous, path, code)
    with store.db.read() as session:
        user = session.scalar(select(StaffUser).where(StaffUser.username == "cara"))
        assert user is not None and user.role == "annotator" and user.locales == "en-US"
    cara = Person(user.id, "cara", "annotator", NEW_PASSWORD, secret)
    with TestClient(create_app(store=store), base_url="https://testserver") as browser:
        sign_in(browser, cara, again=True)
        assert browser.get("/api/staff/me").json()["username"] == "cara"
    ada.page(), bo.page()
    for html in ada.seen + bo.seen:
        assert NEW_PASSWORD not in html and secret not in html
    assert code not in "".join(ada.seen) and path not in "".join(bo.seen)
    events = actions(store)
    names = [event.action for event in events]
    for expected in (
        "staff.proposed",
        "staff.approved",
        "staff.enrolment_issued",
        "staff.enrolled",
    ):
        assert expected in names
    token = path.rsplit("/", 1)[1]
    for event in events:
        for secret_text in (NEW_PASSWORD, secret, token, code):
            assert secret_text not in str(event.details)


def test_an_admin_cannot_approve_their_own_proposal(
    store: Store, admins: tuple[Admin, Admin]
) -> None:
    ada, bo = admins
    propose_account(ada, "cara", "privacy_officer")
    proposal = proposal_of(store, "cara")
    status, html = ada.post(f"/admin/proposals/{proposal.id}", action="approve")
    assert status == 422 and "different admin" in html
    status, html = ada.post(f"/admin/proposals/{proposal.id}", action="link")
    assert status == 422
    status, _ = bo.post(f"/admin/proposals/{proposal.id}", action="cancel")
    assert status == 422
    assert proposal_of(store, "cara").status == "pending"
    status, _ = ada.post(f"/admin/proposals/{proposal.id}", action="cancel")
    assert status == 200
    proposal_of(store, "cara", "cancelled")
    propose_account(ada, "dan", "admin")
    status, _ = bo.post(f"/admin/proposals/{proposal_of(store, 'dan').id}", action="refuse")
    assert status == 200
    proposal_of(store, "dan", "refused")
    refused = proposal_of(store, "dan", "refused")
    status, html = bo.post(f"/admin/proposals/{refused.id}", action="approve")
    assert status == 422 and "already refused" in html
    status, html = bo.post("/admin/proposals/nope", action="approve")
    assert status == 404
    assert "staff.refused" in [event.action for event in actions(store)]


def test_an_expired_proposal_cannot_be_approved(store: Store, admins: tuple[Admin, Admin]) -> None:
    ada, bo = admins
    propose_account(ada, "cara")
    with store.db.transaction() as session:
        proposal = session.scalars(select(StaffProposal)).one()
        proposal.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    status, html = bo.post(f"/admin/proposals/{proposal.id}", action="approve")
    assert status == 422 and "expired" in html


def test_the_link_without_the_code_does_not_enrol_and_wrong_codes_burn_it(
    store: Store, admins: tuple[Admin, Admin], anonymous: TestClient
) -> None:
    ada, bo = admins
    propose_account(ada, "cara")
    path, code = approve_and_link(store, ada, bo, "cara")
    everything = {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD, "code": "123456"}
    for attempt in range(1, MAX_WRONG_CODES + 1):
        response = anonymous.post(path, data={"approval_code": "WRONG123", **everything})
        assert 'id="manual-key"' not in response.text and "<svg" not in response.text
        assert response.status_code == (410 if attempt == MAX_WRONG_CODES else 403)
    response = anonymous.post(path, data={"approval_code": code})
    assert response.status_code == 410 and "<svg" not in response.text
    assert anonymous.get(path).status_code == 410
    with store.db.read() as session:
        assert session.scalar(select(StaffUser).where(StaffUser.username == "cara")) is None
    names = [event.action for event in actions(store)]
    assert names.count("staff.enrolment_code_failed") == MAX_WRONG_CODES
    assert "staff.enrolment_burned" in names


def test_a_link_works_once_and_expires(
    store: Store, admins: tuple[Admin, Admin], anonymous: TestClient
) -> None:
    ada, bo = admins
    propose_account(ada, "cara")
    path, code = approve_and_link(store, ada, bo, "cara")
    enrol(anonymous, path, code)
    again = anonymous.post(path, data={"approval_code": code})
    assert again.status_code == 410 and "already used" in again.text
    assert anonymous.get("/enrol/not-a-token").status_code == 404
    propose_account(ada, "dan")
    path, code = approve_and_link(store, ada, bo, "dan")
    with store.db.transaction() as session:
        for enrolment in session.scalars(select(StaffEnrolment)):
            enrolment.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    late = anonymous.get(path)
    assert late.status_code == 410 and "expired" in late.text


def test_asking_for_the_link_again_replaces_it(
    store: Store, admins: tuple[Admin, Admin], anonymous: TestClient
) -> None:
    ada, bo = admins
    propose_account(ada, "cara")
    first, code = approve_and_link(store, ada, bo, "cara")
    _, html = ada.post(
        f"/admin/proposals/{proposal_of(store, 'cara', 'approved').id}", action="link"
    )
    second = shown(html, "link").removeprefix("https://testserver")
    assert anonymous.get(first).status_code == 404
    enrol(anonymous, second, code)


def test_the_enrolment_refuses_bad_passwords_and_codes_without_spending_the_link(
    store: Store, admins: tuple[Admin, Admin], anonymous: TestClient
) -> None:
    ada, bo = admins
    propose_account(ada, "cara")
    path, code = approve_and_link(store, ada, bo, "cara")
    secret = shown(anonymous.post(path, data={"approval_code": code}).text, "manual-key")
    good = pyotp.TOTP(secret).now()
    for data, message in (
        ({"password": "short", "password_again": "short", "code": good}, "at least"),
        ({"password": NEW_PASSWORD, "password_again": NEW_PASSWORD + "!", "code": good}, "differ"),
        ({"password": NEW_PASSWORD, "password_again": NEW_PASSWORD, "code": "000000"}, "match"),
    ):
        response = anonymous.post(path, data={"approval_code": code.lower(), **data})
        assert response.status_code == 422 and message in response.text
    enrol(anonymous, path, code)


def test_a_reset_ends_sessions_and_the_old_credentials_at_approval(
    store: Store, admins: tuple[Admin, Admin], anonymous: TestClient
) -> None:
    ada, bo = admins
    ana = add_person(store, "ana", "annotator")
    with TestClient(create_app(store=store), base_url="https://testserver") as browser:
        sign_in(browser, ana)
        status, html = ada.post(f"/admin/users/{ana.id}", action="reset")
        assert status == 201 and ana.password not in html
        assert browser.get("/api/staff/me").status_code == 200
        path, code = approve_and_link(store, ada, bo, "ana")
        assert browser.get("/api/staff/me").status_code == 401
    with store.db.read() as session:
        assert (
            session.scalars(select(StaffSession).where(StaffSession.staff_id == ana.id)).all() == []
        )
    secret = enrol(anonymous, path, code)
    assert secret != ana.totp_secret
    with TestClient(create_app(store=store), base_url="https://testserver") as browser:
        sign_in(browser, Person(ana.id, "ana", "annotator", NEW_PASSWORD, secret), again=True)
    for html in ada.seen + bo.seen:
        assert NEW_PASSWORD not in html and secret not in html
    assert "staff.credentials_reset" in [event.action for event in actions(store)]


def test_the_old_password_stops_working_once_a_reset_is_approved(
    store: Store, admins: tuple[Admin, Admin]
) -> None:
    ada, bo = admins
    ana = add_person(store, "ana", "annotator")
    ada.post(f"/admin/users/{ana.id}", action="reset")
    approve_and_link(store, ada, bo, "ana")
    with TestClient(create_app(store=store), base_url="https://testserver") as browser:
        page = browser.get("/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        response = browser.post(
            "/login",
            data={"username": "ana", "password": ana.password, "csrf_token": token.group(1)},
            follow_redirects=False,
        )
        assert response.status_code == 401


def test_a_role_change_waits_for_a_second_admin(store: Store, admins: tuple[Admin, Admin]) -> None:
    ada, bo = admins
    ana = add_person(store, "ana", "annotator")
    status, _ = ada.post(
        f"/admin/users/{ana.id}", action="update", role="privacy_officer", locales="en-US"
    )
    assert status == 201
    with store.db.read() as session:
        user = session.get(StaffUser, ana.id)
        assert user is not None and user.role == "annotator"
    status, _ = ada.post(f"/admin/proposals/{proposal_of(store, 'ana').id}", action="approve")
    assert status == 422
    status, html = bo.post(f"/admin/proposals/{proposal_of(store, 'ana').id}", action="approve")
    assert status == 200 and 'id="code"' not in html
    with store.db.read() as session:
        user = session.get(StaffUser, ana.id)
        assert user is not None and user.role == "privacy_officer"
    changed = [event for event in actions(store) if event.action == "staff.role_changed"]
    assert changed and changed[0].details["to"] == "privacy_officer"
    status, _ = ada.post(
        f"/admin/users/{ana.id}", action="update", role="privacy_officer", locales="en-GB"
    )
    assert status == 200
    with store.db.read() as session:
        user = session.get(StaffUser, ana.id)
        assert user is not None and user.locales == "en-GB"


def test_disabling_and_unlocking_need_no_second_admin(
    store: Store, admins: tuple[Admin, Admin]
) -> None:
    ada, _ = admins
    ana = add_person(store, "ana", "annotator")
    status, _ = ada.post(f"/admin/users/{ana.id}", action="disable")
    assert status == 200
    with store.db.read() as session:
        user = session.get(StaffUser, ana.id)
        assert user is not None and not user.active
    status, _ = ada.post(f"/admin/users/{ana.id}", action="reset_password")
    assert status == 422


def test_a_taken_or_proposed_username_is_refused(store: Store, admins: tuple[Admin, Admin]) -> None:
    ada, bo = admins
    status, html = ada.post("/admin/users", username="bo", role="annotator")
    assert status == 422 and "taken" in html
    propose_account(ada, "cara")
    status, html = bo.post("/admin/users", username="cara", role="admin")
    assert status == 422 and "already proposed" in html
    status, html = bo.post("/admin/users", username="eve", role="superuser")
    assert status == 422


def test_malformed_requests_get_a_clear_refusal(
    store: Store, admins: tuple[Admin, Admin], anonymous: TestClient
) -> None:
    ada, bo = admins
    assert anonymous.post("/enrol/whatever", data={}).status_code == 422
    assert anonymous.post("/enrol/whatever", data={"approval_code": "X"}).status_code == 404
    assert anonymous.get("/enrol/" + "x" * 300).status_code == 404
    status, _ = bo.post("/admin/proposals/nope", action="explode")
    assert status == 422
    propose_account(ada, "cara")
    path, code = approve_and_link(store, ada, bo, "cara")
    response = anonymous.post(path, data={"approval_code": code, "password": NEW_PASSWORD})
    assert response.status_code == 200 and 'id="manual-key"' in response.text
    with store.db.read() as session:
        assert session.scalar(select(StaffUser).where(StaffUser.username == "cara")) is None
