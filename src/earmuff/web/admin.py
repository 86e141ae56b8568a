"""Staff account administration: propose, approve, disable, unlock.

Admins manage people, not data: nothing here plays audio or shows review work. Nothing
here shows a password or a second-factor secret either: an account, a credential reset
or a role change is one admin's proposal that a different admin approves, and the
person then enrols with the link (given to the proposer) and the code (given to the
approver), choosing their own password and authenticator (``review/enrolment.py``).
Disabling, enabling and unlocking grant nothing, so they need no second admin. Any
change to what a person may do ends their sessions, so it takes effect at once.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from earmuff.audit.log import record
from earmuff.review.enrolment import (
    approve,
    cancel,
    issue_link,
    open_proposals,
    propose_account,
    propose_reset,
    propose_role,
    refuse,
)
from earmuff.store.models import STAFF_ROLES, StaffUser, utcnow
from earmuff.store.staff import StaffError, parse_locales
from earmuff.web.pages import render
from earmuff.web.staff_auth import Staff, end_sessions, require

router = APIRouter(include_in_schema=False)
admin_only = require("users")
ACTIONS = ("update", "disable", "enable", "unlock", "reset")
DECISIONS = ("approve", "refuse", "cancel", "link")
KIND_LABELS = {"create": "new account", "reset": "new sign-in", "role": "role change"}


def _page(request: Request, staff: Staff, status: int = 200, **context: object) -> HTMLResponse:
    now = utcnow()
    with request.app.state.store.db.read() as session:
        users = list(session.scalars(select(StaffUser).order_by(StaffUser.username)))
        proposals = open_proposals(session, now)
    return render(
        request,
        "staff/users.html",
        staff,
        status,
        users=users,
        roles=STAFF_ROLES,
        proposals=proposals,
        kinds=KIND_LABELS,
        now=now,
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
    """Propose an account; it exists only once another admin approves and the person
    enrols."""
    store = request.app.state.store
    try:
        with store.db.transaction() as session:
            proposal = propose_account(
                session, staff.id, username, role, utcnow(), locales, safety_pool
            )
    except StaffError as exc:
        return _page(request, staff, status=422, error=str(exc))
    notice = f"Proposed {proposal.username} ({role}): another admin must approve it."
    return _page(request, staff, status=201, notice=notice)


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
    """Disable, enable and unlock act at once; a reset, or an update that changes the
    role, becomes a proposal. An update keeping the role changes locales and the
    safety pool at once: those choose which items a reviewer gets, not whether they
    hear audio at all."""
    store = request.app.state.store
    if action not in ACTIONS:
        return _page(request, staff, status=422, error=f"unknown action {action!r}")
    notice: str | None = None
    now = utcnow()
    try:
        with store.db.transaction() as session:
            user = session.get(StaffUser, user_id)
            if user is None:
                return _page(request, staff, status=404, error="no such staff account")
            if user.id == staff.id and action in ("disable", "update", "reset"):
                raise StaffError("you cannot disable, reset or change your own account")
            if action == "reset":
                propose_reset(session, staff.id, user.id, now)
                notice = f"Proposed a new sign-in for {user.username}: another admin must approve."
            elif action == "update" and role != user.role:
                propose_role(session, staff.id, user.id, role, now, locales, safety_pool)
                notice = (
                    f"Proposed {user.username} as {role}: another admin must approve "
                    "before it takes effect."
                )
            else:
                details: dict[str, object] = {"action": action}
                if action == "update":
                    user.locales, user.safety_pool = parse_locales(locales), safety_pool
                    details |= {"locales": user.locales, "safety_pool": safety_pool}
                    end_sessions(session, user.id)
                elif action in ("disable", "enable"):
                    user.active = action == "enable"
                    end_sessions(session, user.id)
                else:
                    user.failed_logins, user.locked_until = 0, None
                record(session, f"staff:{staff.id}", "staff.changed", f"staff:{user.id}", details)
    except StaffError as exc:
        return _page(request, staff, status=422, error=str(exc))
    if notice is not None:
        return _page(request, staff, status=201, notice=notice)
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/proposals/{proposal_id}", response_class=HTMLResponse)
def decide(
    request: Request,
    proposal_id: str,
    staff: Annotated[Staff, Depends(admin_only)],
    action: Annotated[str, Form(max_length=16)],
) -> Response:
    """Another admin approves or refuses; the proposer cancels, or collects the link.

    The approval code and the link are each shown once, each to one admin: the page
    that shows one never shows the other."""
    store = request.app.state.store
    if action not in DECISIONS:
        return _page(request, staff, status=422, error=f"unknown action {action!r}")
    now = utcnow()
    notice: str | None = None
    approval: dict[str, str] | None = None
    issued: dict[str, object] | None = None
    try:
        with store.db.transaction() as session:
            if action == "approve":
                approved = approve(session, store.keyring, proposal_id, staff.id, now)
                username = approved.proposal.username or ""
                if approved.approval_code is None:
                    notice = f"Approved: {username} is now {approved.proposal.role}."
                else:
                    approval = {"username": username, "code": approved.approval_code}
            elif action == "link":
                link = issue_link(session, proposal_id, staff.id, now)
                base = str(request.base_url).rstrip("/")
                issued = {"url": base + link.path, "expires_at": link.expires_at}
            elif action == "refuse":
                refuse(session, proposal_id, staff.id, now)
            else:
                cancel(session, proposal_id, staff.id, now)
    except StaffError as exc:
        status = 404 if str(exc) == "no such proposal" else 422
        return _page(request, staff, status=status, error=str(exc))
    if notice or approval or issued:
        return _page(request, staff, notice=notice, approval=approval, issued=issued)
    return RedirectResponse("/admin/users", status_code=303)
