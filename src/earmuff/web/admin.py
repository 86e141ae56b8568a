"""Staff account administration: create, change role and locales, disable, unlock, reset.

Admins manage people, not data: nothing here plays audio or shows review work. Any
change to what a person may do ends their sessions, so it takes effect at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from earmuff.audit.log import record
from earmuff.store.models import STAFF_ROLES, StaffUser, utcnow
from earmuff.store.staff import (
    StaffError,
    create_staff,
    parse_locales,
    reset_password,
    reset_totp,
)
from earmuff.web.pages import render
from earmuff.web.staff_auth import Staff, end_sessions, require

router = APIRouter(include_in_schema=False)
admin_only = require("users")
ACTIONS = ("update", "disable", "enable", "unlock", "reset_password", "reset_totp")


def _page(request: Request, staff: Staff, status: int = 200, **context: object) -> HTMLResponse:
    with request.app.state.store.db.read() as session:
        users = list(session.scalars(select(StaffUser).order_by(StaffUser.username)))
    return render(
        request,
        "staff/users.html",
        staff,
        status,
        users=users,
        roles=STAFF_ROLES,
        now=utcnow(),
        **context,
    )


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, staff: Annotated[Staff, Depends(admin_only)]) -> Response:
    return _page(request, staff)


@router.post("/admin/users", response_class=HTMLResponse)
def add_user(
    request: Request,
    staff: Annotated[Staff, Depends(admin_only)],
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=32)],
    locales: Annotated[str, Form(max_length=255)] = "",
    safety_pool: Annotated[bool, Form()] = False,
) -> Response:
    store = request.app.state.store
    try:
        with store.db.transaction() as session:
            created = create_staff(
                session, store.keyring, username, role, locales=locales, safety_pool=safety_pool
            )
            record(
                session,
                f"staff:{staff.id}",
                "staff.created",
                f"staff:{created.user.id}",
                {"username": created.user.username, "role": role},
            )
    except StaffError as exc:
        return _page(request, staff, status=422, error=str(exc))
    return _page(
        request,
        staff,
        status=201,
        created={
            "username": created.user.username,
            "password": created.password,
            "totp_secret": created.totp_secret,
            "totp_uri": created.totp_uri,
        },
    )


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
def change_user(
    request: Request,
    user_id: str,
    staff: Annotated[Staff, Depends(admin_only)],
    action: Annotated[str, Form(max_length=32)],
    role: Annotated[str, Form(max_length=32)] = "",
    locales: Annotated[str, Form(max_length=255)] = "",
    safety_pool: Annotated[bool, Form()] = False,
) -> Response:
    store = request.app.state.store
    if action not in ACTIONS:
        return _page(request, staff, status=422, error=f"unknown action {action!r}")
    shown: dict[str, str] | None = None
    try:
        with store.db.transaction() as session:
            user = session.get(StaffUser, user_id)
            if user is None:
                return _page(request, staff, status=404, error="no such staff account")
            if user.id == staff.id and action in ("disable", "update"):
                raise StaffError("you cannot disable yourself or change your own role")
            details: dict[str, object] = {"action": action}
            if action == "update":
                if role not in STAFF_ROLES:
                    raise StaffError(f"role must be one of {', '.join(STAFF_ROLES)}", "role")
                user.role, user.locales = role, parse_locales(locales)
                user.safety_pool = safety_pool
                details |= {"role": role, "locales": user.locales, "safety_pool": safety_pool}
                end_sessions(session, user.id)
            elif action in ("disable", "enable"):
                user.active = action == "enable"
                end_sessions(session, user.id)
            elif action == "unlock":
                user.failed_logins, user.locked_until = 0, None
            elif action == "reset_password":
                shown = {"username": user.username, "password": reset_password(user)}
                end_sessions(session, user.id)
            else:
                shown = {
                    "username": user.username,
                    "totp_secret": reset_totp(session, store.keyring, user),
                }
                end_sessions(session, user.id)
            record(session, f"staff:{staff.id}", "staff.changed", f"staff:{user.id}", details)
    except StaffError as exc:
        return _page(request, staff, status=422, error=str(exc))
    if shown is not None:
        return _page(request, staff, created=shown)
    return RedirectResponse("/admin/users", status_code=303)
