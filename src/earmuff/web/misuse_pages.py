"""Misuse alerts, for privacy officers: what the rules over the audit trail found.

The rules themselves live in ``audit/misuse.py``; this page shows their alerts with
the person each names, and takes an officer's acknowledgement (audited, with a note).
Only the ``audit`` permission reaches it: the alerts name reviewers and officers, so
they are for the people who audit, not for the people audited.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from earmuff.audit.misuse import MAX_NOTE, AlertError, acknowledge, alerts, descriptions
from earmuff.store.models import StaffUser, utcnow
from earmuff.web.pages import render
from earmuff.web.staff_auth import Staff, require

router = APIRouter(include_in_schema=False)
officers = require("audit")
ALERT_ID = r"^[0-9a-f]{32}$"
NOTICES = {"acknowledged": "Alert acknowledged."}


def _page(
    request: Request,
    staff: Staff,
    show: str = "open",
    status: int = 200,
    **context: object,
) -> Response:
    with request.app.state.store.db.read() as session:
        shown = alerts(session, include_acknowledged=show == "all")
        names = {
            user.id: f"{user.username} ({user.role.replace('_', ' ')})"
            for user in session.scalars(select(StaffUser))
        }
    return render(
        request,
        "staff/alerts.html",
        staff,
        status,
        alerts=shown,
        names=names,
        show=show,
        rules=descriptions(),
        max_note=MAX_NOTE,
        **context,
    )


@router.get("/audit/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request,
    staff: Annotated[Staff, Depends(officers)],
    show: Annotated[Literal["open", "all"], Query()] = "open",
    notice: Annotated[Literal["acknowledged"] | None, Query()] = None,
) -> Response:
    return _page(request, staff, show, notice=NOTICES.get(notice or ""))


@router.post("/audit/alerts/{alert_id}/acknowledge", response_class=HTMLResponse)
def acknowledge_alert(
    request: Request,
    staff: Annotated[Staff, Depends(officers)],
    alert_id: Annotated[str, Path(pattern=ALERT_ID)],
    note: Annotated[str, Form(max_length=MAX_NOTE)] = "",
) -> Response:
    try:
        with request.app.state.store.db.transaction() as session:
            officer = session.get(StaffUser, staff.id)
            assert officer is not None
            acknowledge(session, alert_id, officer, note, utcnow())
    except AlertError as exc:
        return _page(request, staff, status=exc.status, error=exc.message)
    return RedirectResponse("/audit/alerts?notice=acknowledged", status_code=303)
