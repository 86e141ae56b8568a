"""Staff sessions, CSRF protection, and the one dependency that guards every staff route.

A session is a random token in a Secure, HttpOnly, SameSite=Strict cookie; the
database keeps only its hash. Every state-changing request must also carry the
session's CSRF token (a form field or the ``X-CSRF-Token`` header), so a page on
another site cannot act in a reviewer's name even if a browser sent the cookie.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from earmuff.store.models import StaffSession, StaffUser, utcnow
from earmuff.web.errors import error_response
from earmuff.web.permissions import allows

COOKIE = "earmuff_staff"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SIGN_IN_GRACE = timedelta(minutes=5)
"""How long a password-checked session waits for its one-time code."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Staff:
    """The signed-in person as routes see them: a plain value, detached from any session."""

    id: str
    username: str
    role: str
    locales: tuple[str, ...]
    safety_pool: bool
    csrf_token: str
    session_hash: str

    @classmethod
    def of(cls, user: StaffUser, row: StaffSession) -> Staff:
        return cls(
            id=user.id,
            username=user.username,
            role=user.role,
            locales=tuple(x for x in user.locales.split(",") if x),
            safety_pool=user.safety_pool,
            csrf_token=row.csrf_token,
            session_hash=row.token_hash,
        )


class NotSignedIn(Exception):
    """No live session: pages redirect to sign-in, API routes answer 401."""


class Forbidden(Exception):
    """Signed in, but the role does not admit this route, or the CSRF token is wrong."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(
    session: Session, user: StaffUser, stage: str, now: datetime, lifetime: timedelta
) -> str:
    """A new session row; returns the cookie value, which is never stored."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(
            token_hash=token_hash(token),
            staff_id=user.id,
            stage=stage,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    return token


def session_row(session: Session, request: Request, now: datetime) -> StaffSession | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    row = session.get(StaffSession, token_hash(token))
    if row is None or row.expires_at <= now:
        return None
    return row


def end_sessions(session: Session, staff_id: str) -> None:
    """Sign a person out everywhere: on disabling, role change or password reset."""
    session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))


def set_cookie(request: Request, response: Response, token: str, max_age_s: int) -> None:
    response.set_cookie(
        COOKIE,
        token,
        max_age=max_age_s,
        httponly=True,
        secure=request.app.state.store.settings.secure_cookies,
        samesite="strict",
        path="/",
    )


def current_staff(request: Request) -> Staff | None:
    """The fully signed-in staff member of this request, if any."""
    cached: Staff | None = getattr(request.state, "staff", None)
    if cached is not None:
        return cached
    now = utcnow()
    with request.app.state.store.db.read() as session:
        row = session_row(session, request, now)
        if row is None or row.stage != "active":
            return None
        user = session.scalar(
            select(StaffUser).where(StaffUser.id == row.staff_id, StaffUser.active.is_(True))
        )
        if user is None:
            return None
        staff = Staff.of(user, row)
    request.state.staff = staff
    return staff


async def check_csrf(request: Request, staff: Staff) -> None:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, staff.csrf_token):
        raise Forbidden("the form has expired or did not come from earmuff: reload the page")


def require(permission: str) -> Callable[[Request], Awaitable[Staff]]:
    """A dependency admitting the roles the permission table gives ``permission``.

    Unsafe methods must also carry the session's CSRF token.
    """

    async def dependency(request: Request) -> Staff:
        staff = current_staff(request)
        if staff is None:
            raise NotSignedIn()
        if not allows(permission, staff.role):
            raise Forbidden(f"your role ({staff.role}) does not allow this")
        if request.method not in SAFE_METHODS:
            await check_csrf(request, staff)
        return staff

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


def wants_html(request: Request) -> bool:
    """Pages answer browsers with pages; everything under /api/ answers in JSON."""
    return not request.url.path.startswith("/api/")


def install(app: FastAPI) -> None:
    """Answer refusals as pages for browsers and as the one JSON error shape for APIs."""

    @app.exception_handler(NotSignedIn)
    async def _not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        if wants_html(request) and request.method in SAFE_METHODS:
            target = quote(request.url.path, safe="/")
            return RedirectResponse(f"/login?next={target}", status_code=303)
        return error_response(401, "unauthenticated", "sign in first")

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if wants_html(request):
            page: Response = request.app.state.templates.TemplateResponse(
                request,
                "staff/refused.html",
                {"message": exc.message, "staff": current_staff(request)},
                status_code=403,
            )
            return page
        return error_response(403, "forbidden", exc.message)
