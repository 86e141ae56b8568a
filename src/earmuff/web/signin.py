"""Staff sign-in in two steps (password, then a one-time code), and sign-out.

The password step opens a short-lived half session that admits nothing but the code
page; the code step replaces it with a new session token, so a token seen before the
second factor is worth nothing after it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel
from sqlalchemy import delete

from earmuff.audit.log import record
from earmuff.audit.sign_ins import is_locked, sign_in_refused, target
from earmuff.store.models import StaffSession, StaffUser, utcnow
from earmuff.store.staff import SignInRefused, check_password_sign_in, check_totp_sign_in
from earmuff.web.pages import render
from earmuff.web.staff_auth import (
    COOKIE,
    SIGN_IN_GRACE,
    Staff,
    current_staff,
    open_session,
    require,
    session_row,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "earmuff_login_csrf"
HOME_BY_ROLE = {
    "annotator": "/workbench",
    "qa_reviewer": "/workbench",
    "safety_officer": "/safety",
    "privacy_officer": "/audit",
    "admin": "/admin/users",
}


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: ``next`` must not become an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _page(request: Request, name: str, status: int = 200, **context: object) -> HTMLResponse:
    return render(request, name, None, status, **context)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    staff = current_staff(request)
    if staff is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse(HOME_BY_ROLE[staff.role], status_code=303)


class Me(BaseModel):
    username: str
    role: str
    locales: list[str]
    safety_pool: bool
    csrf_token: str
    """For scripts of the signed-in pages: the header value unsafe requests must carry."""


@router.get("/api/staff/me", response_model=Me, include_in_schema=True, tags=["staff"])
def me(staff: Annotated[Staff, Depends(require("home"))]) -> Me:
    return Me(
        username=staff.username,
        role=staff.role,
        locales=list(staff.locales),
        safety_pool=staff.safety_pool,
        csrf_token=staff.csrf_token,
    )


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(24)
    response = _page(request, "staff/login.html", csrf_token=token, next=safe_next(next) or "")
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        secure=request.app.state.store.settings.secure_cookies,
        samesite="strict",
        max_age=1800,
    )
    return response


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected, csrf_token):
        return _page(
            request,
            "staff/login.html",
            status=403,
            error="The sign-in form expired: please try again.",
            csrf_token=expected,
            next=safe_next(next) or "",
        )
    store = request.app.state.store
    now = utcnow()
    refusal: SignInRefused | None = None
    token = ""
    with store.db.transaction() as session:
        known = target(session, username)
        locked_before = is_locked(known, now)
        try:
            user = check_password_sign_in(session, username, password, now)
        except SignInRefused as exc:
            refusal = exc
            sign_in_refused(session, known, locked_before, now, "web", "password")
        else:
            token = open_session(session, user, "password", now, SIGN_IN_GRACE)
    if refusal is not None:
        return _page(
            request,
            "staff/login.html",
            status=401,
            error=_refusal_text(refusal),
            csrf_token=expected,
            next=safe_next(next) or "",
            username=username,
        )
    response = RedirectResponse(
        "/login/code" + (f"?next={safe_next(next)}" if safe_next(next) else ""), status_code=303
    )
    set_cookie(request, response, token, int(SIGN_IN_GRACE.total_seconds()))
    return response


@router.get("/login/code", response_class=HTMLResponse)
def code_page(request: Request, next: str | None = None) -> Response:
    with request.app.state.store.db.read() as session:
        row = session_row(session, request, utcnow())
        if row is None or row.stage != "password":
            return RedirectResponse("/login", status_code=303)
        csrf = row.csrf_token
    return _page(request, "staff/code.html", csrf_token=csrf, next=safe_next(next) or "")


@router.post("/login/code", response_class=HTMLResponse)
def code(
    request: Request,
    code: Annotated[str, Form(max_length=16)],
    csrf_token: Annotated[str, Form(max_length=128)],
    next: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    store = request.app.state.store
    now = utcnow()
    refusal: SignInRefused | None = None
    token, role = "", ""
    lifetime = timedelta(hours=store.settings.staff_session_hours)
    with store.db.transaction() as session:
        row = session_row(session, request, now)
        if row is None or row.stage != "password":
            return RedirectResponse("/login", status_code=303)
        if not secrets.compare_digest(row.csrf_token, csrf_token):
            return RedirectResponse("/login", status_code=303)
        user = session.get(StaffUser, row.staff_id)
        assert user is not None
        locked_before = is_locked(user, now)
        try:
            check_totp_sign_in(store.keyring, user, code, now)
        except SignInRefused as exc:
            refusal = exc
            sign_in_refused(session, user, locked_before, now, "web", "code")
            if user.locked_until is not None and user.locked_until > now:
                session.delete(row)
        else:
            session.delete(row)
            token = open_session(session, user, "active", now, lifetime)
            role = user.role
            record(session, f"staff:{user.id}", "staff.signed_in", f"staff:{user.id}", {})
        csrf = row.csrf_token
    if refusal is not None:
        return _page(
            request,
            "staff/code.html",
            status=401,
            error=_refusal_text(refusal),
            csrf_token=csrf,
            next=safe_next(next) or "",
        )
    response = RedirectResponse(safe_next(next) or HOME_BY_ROLE[role], status_code=303)
    set_cookie(request, response, token, int(lifetime.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout", response_class=HTMLResponse)
def logout(request: Request, csrf_token: Annotated[str, Form(max_length=128)] = "") -> Response:
    store = request.app.state.store
    staff = current_staff(request)
    if staff is not None and secrets.compare_digest(staff.csrf_token, csrf_token):
        with store.db.transaction() as session:
            session.execute(
                delete(StaffSession).where(StaffSession.token_hash == staff.session_hash)
            )
            record(session, f"staff:{staff.id}", "staff.signed_out", f"staff:{staff.id}", {})
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _refusal_text(refusal: SignInRefused) -> str:
    if refusal.locked_until is not None:
        return "Too many failed attempts: this account is locked for 15 minutes."
    return str(refusal).capitalize() + "."
