"""The privacy officer's view of the audit log: verify the chain, read and filter events.

Officers see who did what to which subject; they do not hear audio or read reviews
here. Events are read-only by construction: the log has no edit route at all.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from earmuff.audit.log import AuditChainBroken, verify
from earmuff.store.models import AuditEvent, StaffUser
from earmuff.web.staff_auth import Staff, require

router = APIRouter(include_in_schema=False)
officers = require("audit")
PAGE_SIZE = 100


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    staff: Annotated[Staff, Depends(officers)],
    action: Annotated[str, Query(max_length=64)] = "",
    subject: Annotated[str, Query(max_length=128)] = "",
    before: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    store = request.app.state.store
    with store.db.read() as session:
        try:
            chain = f"intact: {verify(session)} events, every hash holds"
            broken = False
        except AuditChainBroken as exc:
            chain, broken = str(exc), True
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(PAGE_SIZE)
        if action:
            query = query.where(AuditEvent.action.startswith(action))
        if subject:
            query = query.where(AuditEvent.subject == subject)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        events = list(session.scalars(query))
        names = {
            f"staff:{u.id}": f"{u.username} ({u.role.replace('_', ' ')})"
            for u in session.scalars(select(StaffUser))
        }
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        "staff/audit.html",
        {
            "staff": staff,
            "chain": chain,
            "broken": broken,
            "events": events,
            "names": names,
            "action": action,
            "subject": subject,
            "older": events[-1].id if len(events) == PAGE_SIZE else None,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    return response
