"""Staff sign in with a password and a one-time code, and are locked out after guessing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from earmuff.store import Store
from earmuff.store.models import AuditEvent, StaffSession, StaffUser
from earmuff.store.staff import MAX_FAILURES
from tests.workbench.staff import add_person, csrf_of, sign_in


def password_step(client: TestClient, username: str, password: str) -> int:
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    return response.status_code


def test_a_reviewer_signs_in_with_password_and_code_and_lands_on_the_workbench(
    store: Store, browser: TestClient
) -> None:
    ana = add_person(store, "ana", "annotator")
    sign_in(browser, ana)
    response = browser.get("/", follow_redirects=False)
    assert response.headers["location"] == "/workbench"
    cookie = next(c for c in browser.cookies.jar if c.name == "earmuff_staff")
    assert cookie.secure
    assert cookie.has_nonstandard_attr("HttpOnly")
    with store.db.read() as session:
        sessions = list(session.scalars(select(StaffSession)))
        assert [s.stage for s in sessions] == ["active"]
        assert sessions[0].token_hash != cookie.value
        actions = list(session.scalars(select(AuditEvent.action)))
    assert "staff.signed_in" in actions


def test_the_password_alone_opens_nothing(store: Store, browser: TestClient) -> None:
    admin = add_person(store, "root", "admin")
    assert password_step(browser, admin.username, admin.password) == 303
    assert browser.get("/admin/users", follow_redirects=False).status_code == 303
    assert (
        browser.get("/admin/users", follow_redirects=False).headers["location"].startswith("/login")
    )


def test_a_wrong_password_and_an_unknown_name_get_the_same_answer(
    store: Store, browser: TestClient
) -> None:
    add_person(store, "ana", "annotator")
    wrong = browser.post(
        "/login",
        data={
            "username": "ana",
            "password": "not-the-password",
            "csrf_token": csrf_of(browser.get("/login").text),
        },
    )
    unknown = browser.post(
        "/login",
        data={
            "username": "nobody",
            "password": "not-the-password",
            "csrf_token": csrf_of(browser.get("/login").text),
        },
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        "Wrong username or password" in wrong.text and "Wrong username or password" in unknown.text
    )


def test_a_login_form_without_its_csrf_token_is_refused(store: Store, browser: TestClient) -> None:
    ana = add_person(store, "ana", "annotator")
    browser.get("/login")
    response = browser.post(
        "/login", data={"username": ana.username, "password": ana.password, "csrf_token": "forged"}
    )
    assert response.status_code == 403


def test_repeated_failures_lock_the_account_even_for_the_right_password(
    store: Store, browser: TestClient
) -> None:
    ana = add_person(store, "ana", "annotator")
    for _ in range(MAX_FAILURES):
        assert password_step(browser, "ana", "wrong password!!") == 401
    assert password_step(browser, "ana", ana.password) == 401
    with store.db.read() as session:
        user = session.scalars(select(StaffUser)).one()
        assert user.locked_until is not None
        assert user.locked_until > datetime.now(UTC) + timedelta(minutes=10)


def test_a_wrong_code_is_refused_and_a_used_code_cannot_be_replayed(
    store: Store, browser: TestClient
) -> None:
    ana = add_person(store, "ana", "annotator")
    assert password_step(browser, ana.username, ana.password) == 303
    now = datetime.now(UTC)
    valid = {ana.code(now + timedelta(seconds=step)) for step in (-30, 0, 30, 60)}
    wrong = next(
        code for code in ("000000", "111111", "222222", "333333", "444444") if code not in valid
    )
    page = browser.get("/login/code")
    response = browser.post("/login/code", data={"code": wrong, "csrf_token": csrf_of(page.text)})
    assert response.status_code == 401
    used = ana.code()
    page = browser.get("/login/code")
    response = browser.post(
        "/login/code",
        data={"code": used, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303
    browser.cookies.clear()
    assert password_step(browser, ana.username, ana.password) == 303
    page = browser.get("/login/code")
    replay = browser.post("/login/code", data={"code": used, "csrf_token": csrf_of(page.text)})
    assert replay.status_code == 401


def test_sign_out_ends_the_session(store: Store, browser: TestClient) -> None:
    admin = add_person(store, "root", "admin")
    csrf = sign_in(browser, admin)
    assert browser.get("/admin/users").status_code == 200
    old_cookie = browser.cookies.get("earmuff_staff")
    browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    browser.cookies.set("earmuff_staff", old_cookie or "", domain="testserver.local")
    assert browser.get("/admin/users", follow_redirects=False).status_code == 303
    with store.db.read() as session:
        assert session.scalars(select(StaffSession)).all() == []


def test_next_never_leads_off_site(store: Store, browser: TestClient) -> None:
    page = browser.get("/login?next=//evil.example/x")
    assert 'name="next" value=""' in page.text
