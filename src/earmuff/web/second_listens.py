"""Second listens, in the workbench: colleagues hear just the span they were asked about.

The listener sees the locale and the span, never who asked or which item it is, and
the span's audio reaches them like any other stream: through a short-lived link,
watermarked with their name.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from earmuff.review import second_listen
from earmuff.review.second_listen import SecondListenError
from earmuff.store.models import SecondListen, StaffUser, utcnow
from earmuff.web.audio_stream import audio_response
from earmuff.web.errors import error_response
from earmuff.web.pages import render
from earmuff.web.signed_urls import AudioUrl, BadAudioToken, issue, verify
from earmuff.web.staff_auth import Staff, require

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/second-listens", tags=["second listens"])
listeners = require("second_listen.answer")


@router.get("/second-listens", response_class=HTMLResponse)
def requests_page(
    request: Request, staff: Annotated[Staff, Depends(listeners)], notice: str | None = None
) -> Response:
    with request.app.state.store.db.read() as session:
        user = session.get(StaffUser, staff.id)
        assert user is not None
        requests = second_listen.open_requests(session, user)
        opted_in = user.role == "qa_reviewer" or user.second_listener
    return render(
        request,
        "workbench/second_listens.html",
        staff,
        requests=requests,
        opted_in=opted_in,
        notice="Thank you: your suggestion went to your colleague."
        if notice == "answered"
        else None,
    )


@router.get("/second-listens/{request_id}", response_class=HTMLResponse)
def listen_page(
    request: Request, request_id: str, staff: Annotated[Staff, Depends(listeners)]
) -> Response:
    with request.app.state.store.db.read() as session:
        user = session.get(StaffUser, staff.id)
        assert user is not None
        mine = {r.id: r for r in second_listen.open_requests(session, user)}
    if request_id not in mine:
        return render(
            request,
            "staff/refused.html",
            staff,
            status=404,
            message="That request is not open for you (answered, withdrawn, or not your locale).",
        )
    return render(request, "workbench/second_listen.html", staff, listen=mine[request_id])


@router.post("/second-listens/{request_id}/answer", response_class=HTMLResponse)
def answer(
    request: Request,
    request_id: str,
    staff: Annotated[Staff, Depends(listeners)],
    suggestion: Annotated[str, Form(max_length=2000)],
) -> Response:
    store = request.app.state.store
    try:
        with store.db.transaction() as session:
            user = session.get(StaffUser, staff.id)
            assert user is not None
            second_listen.answer(session, store.keyring, request_id, user, suggestion, utcnow())
    except SecondListenError as exc:
        with store.db.read() as session:
            found = session.get(SecondListen, request_id)
            listen = None
            if found is not None:
                user = session.get(StaffUser, staff.id)
                assert user is not None
                listen = {r.id: r for r in second_listen.open_requests(session, user)}.get(
                    request_id
                )
        if listen is None:
            return render(
                request, "staff/refused.html", staff, status=exc.status, message=exc.message
            )
        return render(
            request,
            "workbench/second_listen.html",
            staff,
            status=exc.status,
            listen=listen,
            error=exc.message,
        )
    return RedirectResponse("/second-listens?notice=answered", status_code=303)


@api.post("/{request_id}/audio-url", response_model=AudioUrl)
def audio_url(
    request: Request, request_id: str, staff: Annotated[Staff, Depends(listeners)]
) -> Response | AudioUrl:
    store = request.app.state.store
    with store.db.read() as session:
        user = session.get(StaffUser, staff.id)
        assert user is not None
        open_ids = {r.id for r in second_listen.open_requests(session, user)}
    if request_id not in open_ids:
        return error_response(404, "not_found", "no such second-listen request for you")
    ttl = store.settings.policy.workbench.audio_url_seconds
    return issue(
        store.keyring, "listen", request_id, staff.id, utcnow(), ttl, "/api/second-listens/audio"
    )


@api.get("/audio/{token}")
def span_audio(
    request: Request, token: str, staff: Annotated[Staff, Depends(listeners)]
) -> Response:
    store = request.app.state.store
    now = utcnow()
    try:
        grant = verify(store.keyring, token, staff.id, "listen", now)
    except BadAudioToken as exc:
        return error_response(403, "bad_audio_link", str(exc))
    try:
        with store.db.transaction() as session:
            user = session.get(StaffUser, staff.id)
            assert user is not None
            wav = second_listen.listen(
                session, store.keyring, store.blobs, grant.subject, user, now
            )
    except SecondListenError as exc:
        return error_response(exc.status, exc.code, exc.message)
    return audio_response(request, wav, staff, {"second_listen": grant.subject})
