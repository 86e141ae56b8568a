"""Legal holds, for privacy officers: suspend all deletion for one account, with a reason.

The page shows the holds in force and their history; setting and releasing go through
``owner/holds.py``, which checks the role again and audits both. Releasing catches up at
once on the deletions the hold delayed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from earmuff.owner.holds import HoldError, place_hold, release_legal_hold
from earmuff.store.models import Account, LegalHold, StaffUser, utcnow
from earmuff.web.pages import render
from earmuff.web.staff_auth import Staff, require

router = APIRouter(include_in_schema=False)
officers = require("legal_hold")


def _page(request: Request, staff: Staff, status: int = 200, **context: object) -> Response:
    with request.app.state.store.db.read() as session:
        rows = session.execute(
            select(LegalHold, Account.external_id)
            .join(Account, Account.id == LegalHold.account_id)
            .order_by(LegalHold.set_at.desc())
            .limit(200)
        ).all()
        names = {u.id: u.username for u in session.scalars(select(StaffUser))}
    holds = [
        {
            "account": external_id,
            "reason": hold.reason,
            "set_by": names.get(hold.set_by_id, "?"),
            "set_at": hold.set_at,
            "released_by": names.get(hold.released_by_id or ""),
            "released_at": hold.released_at,
            "note": hold.release_note,
        }
        for hold, external_id in rows
    ]
    return render(request, "staff/holds.html", staff, status, holds=holds, **context)


def _account_id(request: Request, external_id: str) -> str | None:
    with request.app.state.store.db.read() as session:
        found: str | None = session.scalar(
            select(Account.id).where(Account.external_id == external_id.strip())
        )
        return found


@router.get("/holds", response_class=HTMLResponse)
def holds_page(request: Request, staff: Annotated[Staff, Depends(officers)]) -> Response:
    return _page(request, staff)


@router.post("/holds", response_class=HTMLResponse)
def set_hold(
    request: Request,
    staff: Annotated[Staff, Depends(officers)],
    account: Annotated[str, Form(max_length=128)],
    reason: Annotated[str, Form(max_length=4000)],
) -> Response:
    account_id = _account_id(request, account)
    if account_id is None:
        return _page(request, staff, 404, error=f"no account {account}")
    try:
        with request.app.state.store.db.transaction() as session:
            officer = session.get(StaffUser, staff.id)
            assert officer is not None
            place_hold(session, account_id, reason, officer, utcnow())
    except HoldError as exc:
        return _page(request, staff, 422, error=str(exc))
    return RedirectResponse("/holds", status_code=303)


@router.post("/holds/release", response_class=HTMLResponse)
def release_hold(
    request: Request,
    staff: Annotated[Staff, Depends(officers)],
    account: Annotated[str, Form(max_length=128)],
    note: Annotated[str, Form(max_length=4000)],
) -> Response:
    store = request.app.state.store
    account_id = _account_id(request, account)
    if account_id is None:
        return _page(request, staff, 404, error=f"no account {account}")
    with store.db.read() as session:
        officer = session.get(StaffUser, staff.id)
        assert officer is not None
    try:
        _, report = release_legal_hold(store, account_id, officer, note, utcnow())
    except HoldError as exc:
        return _page(request, staff, 422, error=str(exc))
    done = ", ".join(
        f"{count} {what.replace('_', ' ')}" for what, count in report.summary().items()
    )
    return _page(request, staff, notice=f"Hold on {account} released; caught up: {done}.")
