"""Re-identification pages: a safety officer asks and, once approved, opens; a privacy
officer decides. The rules (two people, named fields, once, before a deadline) are
``review/reidentify.py``'s; these routes only carry forms to it and show the result."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.review import reidentify as service
from earmuff.store.crypto import KeyRing
from earmuff.store.models import REIDENTIFICATION_FIELDS, StaffUser, utcnow
from earmuff.web.pages import render
from earmuff.web.staff_auth import Staff, require

router = APIRouter(include_in_schema=False)
readers = require("reidentify")
askers = require("reidentify.request")
deciders = require("reidentify.decide")
Failure = (service.ReidentificationError, service.ReidentificationForbidden)
T = TypeVar("T")


def _page(request: Request, staff: Staff, status: int = 200, **context: object) -> Response:
    now = utcnow()
    with request.app.state.store.db.read() as session:
        person = session.get(StaffUser, staff.id)
        assert person is not None
        rows = service.requests_for(session, person, now)
        names = {u.id: u.username for u in session.scalars(select(StaffUser))}
    listed = [
        {
            "id": row.id,
            "item": row.review_item_id,
            "reason": row.reason,
            "fields": [service.FIELD_LABELS[f] for f in row.fields],
            "state": service.state(row, now),
            "asked_by": names.get(row.requested_by_id, "?"),
            "asked_at": row.requested_at,
            "decided_by": names.get(row.decided_by_id or ""),
            "note": row.decision_note,
            "open_until": row.open_until,
            "disclose_after": row.disclose_after,
            "mine": row.requested_by_id == staff.id,
        }
        for row in rows
    ]
    return render(
        request,
        "staff/reidentify.html",
        staff,
        status,
        requests=listed,
        fields=[(name, service.FIELD_LABELS[name]) for name in REIDENTIFICATION_FIELDS],
        **context,
    )


@router.get("/reidentify", response_class=HTMLResponse)
def reidentify_page(request: Request, staff: Annotated[Staff, Depends(readers)]) -> Response:
    return _page(request, staff)


def _as_person(
    request: Request, staff: Staff, step: Callable[[Session, KeyRing, StaffUser], T]
) -> T:
    """Take ``step`` as the signed-in person, read again inside its transaction."""
    store = request.app.state.store
    with store.db.transaction() as session:
        person = session.get(StaffUser, staff.id)
        assert person is not None
        return step(session, store.keyring, person)


def _refused(request: Request, staff: Staff, exc: Exception, **context: object) -> Response:
    forbidden = isinstance(exc, service.ReidentificationForbidden)
    return _page(request, staff, 403 if forbidden else 422, error=str(exc), **context)


def _done() -> Response:
    return RedirectResponse("/reidentify", status_code=303)


@router.post("/reidentify", response_class=HTMLResponse)
def ask(
    request: Request,
    staff: Annotated[Staff, Depends(askers)],
    item: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
    fields: Annotated[list[str] | None, Form(max_length=len(REIDENTIFICATION_FIELDS))] = None,
) -> Response:
    try:
        _as_person(
            request,
            staff,
            lambda session, keyring, asker: service.request_reidentification(
                session, keyring, asker, item, reason, fields or []
            ),
        )
    except Failure as exc:
        return _refused(request, staff, exc, item=item, reason=reason)
    return _done()


@router.post("/reidentify/{request_id}/approve", response_class=HTMLResponse)
def approve(
    request: Request,
    request_id: str,
    staff: Annotated[Staff, Depends(deciders)],
    note: Annotated[str, Form(max_length=4000)] = "",
    hours: Annotated[float, Form(ge=0.1, le=72)] = 24,
    defer_until: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    try:
        deferral = _date(defer_until)
        _as_person(
            request,
            staff,
            lambda session, keyring, decider: service.approve(
                session,
                keyring,
                decider,
                request_id,
                note,
                open_for=timedelta(hours=hours),
                disclose_after=deferral,
            ),
        )
    except Failure as exc:
        return _refused(request, staff, exc)
    return _done()


@router.post("/reidentify/{request_id}/refuse", response_class=HTMLResponse)
def refuse(
    request: Request,
    request_id: str,
    staff: Annotated[Staff, Depends(deciders)],
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    try:
        _as_person(
            request,
            staff,
            lambda session, _keyring, decider: service.refuse(session, decider, request_id, note),
        )
    except Failure as exc:
        return _refused(request, staff, exc)
    return _done()


@router.post("/reidentify/{request_id}/withdraw", response_class=HTMLResponse)
def withdraw(
    request: Request, request_id: str, staff: Annotated[Staff, Depends(askers)]
) -> Response:
    try:
        _as_person(
            request,
            staff,
            lambda session, _keyring, asker: service.withdraw(session, asker, request_id),
        )
    except Failure as exc:
        return _refused(request, staff, exc)
    return _done()


@router.post("/reidentify/{request_id}/open", response_class=HTMLResponse)
def open_request(
    request: Request, request_id: str, staff: Annotated[Staff, Depends(askers)]
) -> Response:
    """Shown once, in this response, never stored in a page cache (``no-store``)."""
    try:
        opened = _as_person(
            request,
            staff,
            lambda session, keyring, asker: service.open_fields(
                session, keyring, asker, request_id
            ),
        )
    except Failure as exc:
        return _refused(request, staff, exc)
    shown = [(service.FIELD_LABELS[name], value) for name, value in opened.fields.items()]
    return _page(request, staff, opened=opened, shown=shown)


def _date(text: str) -> datetime | None:
    text = text.strip()
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise service.ReidentificationError(f"{text!r} is not a date like 2027-03-01") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=utcnow().tzinfo)
    return when
