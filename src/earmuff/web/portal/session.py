"""Who is signed in to the portal: the session cookie, CSRF checks, and safe headers.

The cookie is ``__Host-`` prefixed (Secure, Path=/, no Domain: no subdomain can set or
read it), HttpOnly (no script can read it) and SameSite=Strict (no other site can make
a browser send it). Every state change also needs the session's CSRF token, from a
hidden form field or the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

from fastapi import Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from earmuff.owner.login import SignedIn, authenticate
from earmuff.store import Store
from earmuff.store.models import Account, utcnow

COOKIE = "__Host-earmuff-owner"
CSRF_HEADER = "X-CSRF-Token"
PREFIXES = ("/portal", "/v1/owner")
HEADERS = {
    b"cache-control": b"no-store",
    b"referrer-policy": b"no-referrer",
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"content-security-policy": (
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"media-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


class SignInRequired(Exception):
    """No live owner session came with the request."""

    def __init__(self, api: bool) -> None:
        super().__init__("sign in with the link your provider sent you")
        self.api = api


class CsrfFailed(Exception):
    """A state change came without this session's CSRF token."""

    def __init__(self, api: bool) -> None:
        super().__init__("the form was stale or did not come from this site; reload the page")
        self.api = api


@dataclass(frozen=True)
class Owner:
    account_id: str
    external_id: str
    csrf_token: str
    expires_at: datetime
    data_deleted: bool


def store_of(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def current_owner(request: Request, api: bool) -> Owner:
    token = request.cookies.get(COOKIE, "")
    store = store_of(request)
    with store.db.read() as session:
        signed: SignedIn | None = authenticate(session, token) if token else None
        account = session.get(Account, signed.account_id) if signed else None
        if signed is None or account is None:
            raise SignInRequired(api)
        return Owner(
            signed.account_id,
            account.external_id,
            signed.csrf_token,
            signed.expires_at,
            account.deleted_at is not None,
        )


def page_owner(request: Request) -> Owner:
    return current_owner(request, api=False)


def api_owner(request: Request) -> Owner:
    return current_owner(request, api=True)


def check_csrf(owner: Owner, supplied: str | None, api: bool) -> None:
    if not supplied or not hmac.compare_digest(supplied.encode(), owner.csrf_token.encode()):
        raise CsrfFailed(api)


def set_session_cookie(response: Response, token: str, expires_at: datetime) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max(int((expires_at - utcnow()).total_seconds()), 0),
        path="/",
        secure=True,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")


class PortalHeaders:
    """Adds no-store, no-referrer, CSP and framing rules to every portal response.

    No-referrer matters most: the sign-in page's URL carries the link's token.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIXES):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS.items() if k not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)
