"""Making staff members and signing them in, for tests of the workbench."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
from fastapi.testclient import TestClient

from earmuff.store import Store
from earmuff.store.staff import NewStaffCredentials, create_staff


@dataclass(frozen=True)
class Person:
    id: str
    username: str
    role: str
    password: str
    totp_secret: str

    def code(self, at: datetime | None = None) -> str:
        totp = pyotp.TOTP(self.totp_secret)
        return totp.at(at) if at is not None else totp.now()


def add_person(
    store: Store,
    username: str,
    role: str,
    locales: str = "en-US",
    safety_pool: bool = False,
) -> Person:
    with store.db.transaction() as session:
        created: NewStaffCredentials = create_staff(
            session, store.keyring, username, role, locales=locales, safety_pool=safety_pool
        )
    return Person(
        id=created.user.id,
        username=created.user.username,
        role=role,
        password=created.password,
        totp_secret=created.totp_secret,
    )


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def sign_in(client: TestClient, person: Person, again: bool = False) -> str:
    """Sign in through both steps, as a browser does; returns the session's CSRF token.

    ``again``: a second sign-in within the same 30 s uses the next code, as each code
    works once (the server allows one step of clock drift)."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": person.username,
            "password": person.password,
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    code_page = client.get("/login/code")
    response = client.post(
        "/login/code",
        data={
            "code": person.code(datetime.now(UTC) + timedelta(seconds=30) if again else None),
            "csrf_token": csrf_of(code_page.text),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    me = client.get("/api/staff/me")
    assert me.status_code == 200, me.text
    token: str = me.json()["csrf_token"]
    return token


def typed_sign_in(store: Store, person: Person) -> str:
    """What ``person`` types at a command's prompts: password, then the current code.

    Each code works once, so the step the person last used is forgotten first, as if
    they had waited for the authenticator's next code: tests never race its clock."""
    from earmuff.store.models import StaffUser

    with store.db.transaction() as session:
        user = session.get(StaffUser, person.id)
        assert user is not None
        user.totp_last_step = None
    return f"{person.password}\n{person.code()}\n"
