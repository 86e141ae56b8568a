"""The permission matrix: every staff route, called as every role and as nobody.

Each route declares one permission of ``web/permissions.py``; this test finds every
route of the app, checks that it declares one (or is knowingly public), and proves the
table is what decides: a role outside it is refused, a role inside it is let through
to the route's own checks, and nobody signed in is sent to sign in.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from earmuff.store import Store
from earmuff.store.models import STAFF_ROLES, StaffSession, utcnow
from earmuff.store.staff import create_staff
from earmuff.web import create_app
from earmuff.web.permissions import PERMISSIONS
from earmuff.web.staff_auth import COOKIE, open_session, token_hash

PUBLIC = re.compile(
    r"^(/|/healthz|/login|/login/code|/logout|/openapi\.json|/docs.*|/redoc|/v1/.*|/portal.*|/static.*|/enrol/.*)$"
)
"""Routes open without a staff session: sign-in itself, health, the device API (device
tokens), the owner portal (owner sessions), and enrolment (its link is the credential)."""


def staff_routes(app: FastAPI) -> list[tuple[APIRoute, str]]:
    """Every API route of the app with the permission its dependencies declare."""
    found = []
    for route in all_routes(app):
        permission = next(
            (
                dep.call.permission
                for dep in route.dependant.dependencies
                if hasattr(dep.call, "permission")
            ),
            None,
        )
        if permission is None:
            assert PUBLIC.match(route.path), f"{route.path} declares no permission"
            continue
        found.append((route, permission))
    return found


def all_routes(app: FastAPI) -> list[APIRoute]:
    routes: list[APIRoute] = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            routes.append(route)
        elif hasattr(route, "original_router"):
            routes.extend(r for r in route.original_router.routes if isinstance(r, APIRoute))
    return routes


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef0123456789abcdef", path)


class Sessions:
    """Fresh live sessions for one person of every role: some routes (stop for today,
    sign out) end the session that calls them."""

    def __init__(self, store: Store) -> None:
        self.store = store
        with store.db.transaction() as session:
            self.users = {
                role: create_staff(session, store.keyring, f"p-{role}", role, locales="en-US").user
                for role in STAFF_ROLES
            }

    def open(self, role: str) -> tuple[str, str]:
        with self.store.db.transaction() as session:
            cookie = open_session(session, self.users[role], "active", utcnow(), timedelta(hours=1))
            session.flush()
            row = session.get(StaffSession, token_hash(cookie))
            assert row is not None
            return cookie, row.csrf_token


@pytest.fixture
def sessions(store: Store) -> Sessions:
    return Sessions(store)


def call(client: TestClient, method: str, path: str, csrf: str | None) -> tuple[int, str]:
    headers = {"X-CSRF-Token": csrf} if csrf else {}
    if method == "GET":
        response = client.get(path, follow_redirects=False, headers=headers)
    else:
        response = client.request(method, path, follow_redirects=False, headers=headers, json={})
    return response.status_code, response.text


def test_every_staff_route_admits_exactly_the_roles_of_its_permission(
    store: Store, sessions: Sessions
) -> None:
    app = create_app(store=store)
    routes = staff_routes(app)
    assert {permission for _, permission in routes} == set(PERMISSIONS)
    with TestClient(app, base_url="https://testserver") as client:
        for route, permission in routes:
            for method in sorted(route.methods - {"HEAD"}):
                path = concrete(route.path)
                client.cookies.clear()
                status, body = call(client, method, path, None)
                if method == "GET" and not path.startswith("/api/"):
                    assert status == 303, (method, path, status)
                else:
                    assert status == 401, (method, path, status)
                for role in STAFF_ROLES:
                    cookie, csrf = sessions.open(role)
                    client.cookies.set(COOKIE, cookie)
                    status, body = call(client, method, path, csrf)
                    refused = status == 403 and (
                        "does not allow this" in body or '"forbidden"' in body
                    )
                    if role in PERMISSIONS[permission]:
                        assert status != 401 and not refused, (
                            role,
                            method,
                            path,
                            status,
                            body[:200],
                        )
                    else:
                        assert refused, (role, method, path, status, body[:200])


def test_a_state_change_without_the_csrf_token_is_refused(store: Store, sessions: Sessions) -> None:
    with TestClient(create_app(store=store), base_url="https://testserver") as client:
        cookie, _ = sessions.open("admin")
        client.cookies.set(COOKIE, cookie)
        response = client.post(
            "/admin/users", data={"username": "eve", "role": "admin"}, follow_redirects=False
        )
        assert response.status_code == 403
        assert "eve" not in client.get("/admin/users").text
