"""The safety console: escalated items as cases, with a clock, required notes, the policy
beside them, and the item's anonymized audio for the officer who must judge it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from markdown_it import MarkdownIt
from markupsafe import Markup

from earmuff.review.escalation import (
    SAFETY_ACTIONS,
    CaseNotFound,
    InvalidTransition,
    get_case,
    list_cases,
    safety_policy,
    transition,
)
from earmuff.store.models import ReviewItem, StaffUser, utcnow
from earmuff.store.review_items import read_review_audio, read_review_transcript
from earmuff.web.audio_stream import audio_response
from earmuff.web.errors import error_response
from earmuff.web.pages import render
from earmuff.web.signed_urls import AudioUrl, BadAudioToken, issue, verify
from earmuff.web.staff_auth import Staff, require

router = APIRouter(include_in_schema=False)
_MARKDOWN = MarkdownIt("commonmark", {"html": False}).enable("table")


def policy_html(text: str) -> Markup:
    """The procedure as HTML; raw HTML in the source is escaped, never passed through."""
    return Markup(_MARKDOWN.render(text))  # noqa: S704 - markdown-it escapes its input


api = APIRouter(prefix="/api/safety", tags=["safety"])
officers = require("safety")


@router.get("/safety", response_class=HTMLResponse)
def console(
    request: Request, staff: Annotated[Staff, Depends(officers)], closed: bool = False
) -> Response:
    store = request.app.state.store
    with store.db.read() as session:
        cases = list_cases(session, utcnow(), include_closed=closed)
    return render(
        request,
        "safety/console.html",
        staff,
        cases=cases,
        closed=closed,
        policy_text=policy_html(safety_policy(store.settings.policy.workbench)),
    )


def _case_page(
    request: Request, staff: Staff, case_id: str, status: int = 200, error: str | None = None
) -> Response:
    store = request.app.state.store
    now = utcnow()
    with store.db.read() as session:
        try:
            case = get_case(session, case_id)
        except CaseNotFound:
            return render(request, "staff/refused.html", staff, 404, message="No such case.")
        summary = next(
            (c for c in list_cases(session, now, include_closed=True) if c.id == case.id), None
        )
        transcript = None
        if case.review_item_id is not None:
            item = session.get(ReviewItem, case.review_item_id)
            if item is not None and item.key_sealed is not None:
                transcript = read_review_transcript(store.keyring, item)
        names = {
            u.id: f"{u.username} ({u.role.replace('_', ' ')})"
            for u in session.query(StaffUser).filter(
                StaffUser.id.in_({e.staff_id for e in case.events})
            )
        }
        events = [
            {"at": e.at, "who": names.get(e.staff_id, "?"), "to": e.to_state, "note": e.note}
            for e in case.events
        ]
    return render(
        request,
        "safety/case.html",
        staff,
        status,
        case=case,
        summary=summary,
        events=events,
        transcript=transcript,
        actions=SAFETY_ACTIONS,
        error=error,
        policy_text=policy_html(safety_policy(store.settings.policy.workbench)),
    )


@router.get("/safety/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request, case_id: str, staff: Annotated[Staff, Depends(officers)]
) -> Response:
    return _case_page(request, staff, case_id)


@router.post("/safety/cases/{case_id}", response_class=HTMLResponse)
def move_case(
    request: Request,
    case_id: str,
    staff: Annotated[Staff, Depends(officers)],
    to_state: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=8000)] = "",
    action: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    store = request.app.state.store
    try:
        with store.db.transaction() as session:
            user = session.get(StaffUser, staff.id)
            assert user is not None
            transition(session, case_id, to_state, note, user, utcnow(), action=action or None)
    except CaseNotFound:
        return render(request, "staff/refused.html", staff, 404, message="No such case.")
    except InvalidTransition as exc:
        return _case_page(request, staff, case_id, status=422, error=str(exc))
    return RedirectResponse(f"/safety/cases/{case_id}", status_code=303)


@api.post("/cases/{case_id}/audio-url", response_model=AudioUrl)
def audio_url(
    request: Request, case_id: str, staff: Annotated[Staff, Depends(officers)]
) -> Response | AudioUrl:
    store = request.app.state.store
    with store.db.read() as session:
        try:
            case = get_case(session, case_id)
        except CaseNotFound:
            return error_response(404, "not_found", "no such case")
        if case.review_item_id is None:
            return error_response(410, "item_gone", "the item was deleted; only the record stays")
    ttl = store.settings.policy.workbench.audio_url_seconds
    return issue(store.keyring, "case", case_id, staff.id, utcnow(), ttl, "/api/safety/audio")


@api.get("/audio/{token}")
def case_audio(
    request: Request, token: str, staff: Annotated[Staff, Depends(officers)]
) -> Response:
    store = request.app.state.store
    try:
        grant = verify(store.keyring, token, staff.id, "case", utcnow())
    except BadAudioToken as exc:
        return error_response(403, "bad_audio_link", str(exc))
    with store.db.read() as session:
        try:
            case = get_case(session, grant.subject)
        except CaseNotFound:
            return error_response(404, "not_found", "no such case")
        item = session.get(ReviewItem, case.review_item_id) if case.review_item_id else None
        if item is None or item.key_sealed is None:
            return error_response(410, "item_gone", "the item was deleted; only the record stays")
        if item.audio_blob_key is None:
            return error_response(404, "no_audio", "this item's purpose serves no audio")
        wav = read_review_audio(store.keyring, store.blobs, item)
    return audio_response(request, wav, staff, {"safety_case": case.id, "item": item.id})
