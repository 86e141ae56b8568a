"""The reviewer's workbench: one task at a time, its audio, the annotation form.

A reviewer sees only the item they hold under a lease: there is no search, no list of
items and no history of anyone's work. Every route admits the roles of the
``workbench`` permission and checks the lease on top.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import delete

from earmuff.audio.span import wav_duration
from earmuff.audit.log import record
from earmuff.config.policy import SERVED_WORDS
from earmuff.pipeline.screen import LEXICON
from earmuff.review import queue, second_listen
from earmuff.review.escalation import ESCALATING_FLAGS
from earmuff.review.queue import InvalidSubmission, LeaseLost, Reviewer, Submission
from earmuff.review.second_listen import SecondListenError
from earmuff.store.models import ReviewItem, StaffSession, StaffUser, utcnow
from earmuff.store.review_items import read_review_audio, read_review_transcript
from earmuff.web.audio_stream import audio_response
from earmuff.web.errors import error_response
from earmuff.web.pages import render
from earmuff.web.signed_urls import AudioUrl, BadAudioToken, issue, verify
from earmuff.web.staff_auth import COOKIE, Staff, require

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/workbench", tags=["workbench"])
reviewer_only = require("workbench")

FLAGS = tuple(
    (flag, "personal details not masked" if flag == "pii_leak" else flag.replace("_", " "))
    for flag in queue.FLAGS
)
"""The queue's flags as the form shows them."""


def reviewer_of(staff: Staff) -> Reviewer:
    return Reviewer(
        id=staff.id, role=staff.role, locales=staff.locales, safety_pool=staff.safety_pool
    )


def _redirect(notice: str | None = None) -> RedirectResponse:
    return RedirectResponse("/workbench" + (f"?notice={notice}" if notice else ""), 303)


NOTICES = {
    "submitted": "Submitted. Thank you.",
    "skipped": "Skipped: the item goes to someone else.",
    "asked": "Your second-listen request is waiting for a colleague.",
    "lease_lost": "That lease had ended: the item went back to the queue.",
    "pulled": "Thank you: the item was pulled from every queue at once.",
    "escalated": "Thank you: the item went to the safety team and left every queue.",
}


@router.get("/workbench", response_class=HTMLResponse)
def workbench(
    request: Request, staff: Annotated[Staff, Depends(reviewer_only)], notice: str | None = None
) -> Response:
    return _render(request, staff, notice=notice)


def _render(
    request: Request,
    staff: Staff,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    """The reviewer's one view: the task they hold, or the way to take the next one."""
    store = request.app.state.store
    policy = store.settings.policy.workbench
    now = utcnow()
    reviewer = reviewer_of(staff)
    with store.db.read() as session:
        lease = queue.current_lease(session, reviewer, now)
        shift = queue.shift_counts(session, reviewer, policy, now)
        if lease is not None:
            item = session.get(ReviewItem, lease.review_item_id)
            user = session.get(StaffUser, staff.id)
            assert item is not None and user is not None
            transcript = read_review_transcript(store.keyring, item)
            listens = second_listen.my_requests(session, store.keyring, lease.lease_id, user, now)
    common = {
        "notice": NOTICES.get(notice or ""),
        "error": error,
        "support": policy.support_contact,
    }
    if lease is None:
        return render(
            request,
            "workbench/index.html",
            staff,
            status,
            shift=shift,
            lease_minutes=policy.lease_minutes,
            nothing_left=notice == "empty",
            **common,
        )
    return render(
        request,
        "workbench/task.html",
        staff,
        status,
        lease=lease,
        item=item,
        you_hear=SERVED_WORDS.get(item.served, item.served),
        transcript=transcript,
        intents=policy.intents,
        slots=policy.slots,
        flags=FLAGS,
        categories=tuple(LEXICON),
        skip_reasons=queue.SKIP_REASONS,
        my_listens=listens,
        **common,
    )


@router.post("/workbench/next", response_class=HTMLResponse)
def take_next(request: Request, staff: Annotated[Staff, Depends(reviewer_only)]) -> Response:
    store = request.app.state.store
    lease = queue.next_task(store.db, reviewer_of(staff), store.settings.policy.workbench, utcnow())
    return _redirect(None if lease is not None else "empty")


@router.post("/workbench/submit", response_class=HTMLResponse)
async def submit_task(
    request: Request, staff: Annotated[Staff, Depends(reviewer_only)]
) -> Response:
    form = await request.form()
    store = request.app.state.store
    policy = store.settings.policy.workbench
    slots = {
        name: str(form.get(f"slot_{name}", "")).strip()
        for name in policy.slots
        if str(form.get(f"slot_{name}", "")).strip()
    }
    flags = [str(f) for f in form.getlist("flag")]
    submission = Submission(
        transcript=str(form.get("transcript", "")),
        intent=str(form.get("intent", "")) or None,
        slots=slots,
        flags=tuple(flags),
        sensitive_category=str(form.get("sensitive_category", "")) or None,
    )
    try:
        queue.submit(
            store.db,
            store.keyring,
            reviewer_of(staff),
            str(form.get("lease_id", "")),
            submission,
            policy,
            utcnow(),
        )
    except LeaseLost:
        return _redirect("lease_lost")
    except InvalidSubmission as exc:
        return _render(request, staff, error=str(exc), status=422)
    if "pii_leak" in flags:
        return _redirect("pulled")
    if set(ESCALATING_FLAGS) & set(flags):
        return _redirect("escalated")
    return _redirect("submitted")


@router.post("/workbench/skip", response_class=HTMLResponse)
def skip_task(
    request: Request,
    staff: Annotated[Staff, Depends(reviewer_only)],
    lease_id: Annotated[str, Form(max_length=64)],
    reason: Annotated[str, Form(max_length=64)],
) -> Response:
    store = request.app.state.store
    try:
        queue.skip(store.db, reviewer_of(staff), lease_id, reason, utcnow())
    except LeaseLost:
        return _redirect("lease_lost")
    except InvalidSubmission as exc:
        return _render(request, staff, error=str(exc), status=422)
    return _redirect("skipped")


@router.post("/workbench/stop", response_class=HTMLResponse)
def stop_for_today(request: Request, staff: Annotated[Staff, Depends(reviewer_only)]) -> Response:
    """Hand back any task without a mark against the reviewer, and sign out."""
    store = request.app.state.store
    now = utcnow()
    reviewer = reviewer_of(staff)
    with store.db.read() as session:
        lease = queue.current_lease(session, reviewer, now)
    if lease is not None:
        queue.release(store.db, reviewer, lease.lease_id, now)
    with store.db.transaction() as session:
        session.execute(delete(StaffSession).where(StaffSession.token_hash == staff.session_hash))
        record(session, f"staff:{staff.id}", "staff.stopped_for_today", f"staff:{staff.id}", {})
    response: Response = request.app.state.templates.TemplateResponse(
        request,
        "workbench/stopped.html",
        {"staff": None, "support": store.settings.policy.workbench.support_contact},
    )
    response.delete_cookie(COOKIE, path="/")
    return response


@router.post("/workbench/second-listen", response_class=HTMLResponse)
def ask_second_listen(
    request: Request,
    staff: Annotated[Staff, Depends(reviewer_only)],
    lease_id: Annotated[str, Form(max_length=64)],
    start_s: Annotated[float, Form(ge=0, le=3600, allow_inf_nan=False)],
    end_s: Annotated[float, Form(ge=0, le=3600, allow_inf_nan=False)],
) -> Response:
    store = request.app.state.store
    now = utcnow()
    with store.db.read() as session:
        lease = queue.current_lease(session, reviewer_of(staff), now)
        if lease is None or lease.lease_id != lease_id:
            return _redirect("lease_lost")
        item = session.get(ReviewItem, lease.review_item_id)
        assert item is not None
        if item.audio_blob_key is None:
            return _render(request, staff, error="This task has no audio to listen to.", status=422)
        duration = wav_duration(read_review_audio(store.keyring, store.blobs, item))
    try:
        with store.db.transaction() as session:
            user = session.get(StaffUser, staff.id)
            assert user is not None
            second_listen.request_second_listen(
                session,
                lease_id,
                user,
                start_s,
                end_s,
                duration,
                store.settings.policy.workbench,
                now,
            )
    except SecondListenError as exc:
        return _render(request, staff, error=exc.message, status=exc.status)
    return _redirect("asked")


class LeaseRef(BaseModel):
    lease_id: str = Field(max_length=64)


class LeaseOut(BaseModel):
    lease_id: str
    expires_at: str


@api.post("/renew", response_model=LeaseOut)
def renew_lease(
    request: Request, body: LeaseRef, staff: Annotated[Staff, Depends(reviewer_only)]
) -> Response | LeaseOut:
    store = request.app.state.store
    try:
        lease = queue.renew(
            store.db, reviewer_of(staff), body.lease_id, store.settings.policy.workbench, utcnow()
        )
    except LeaseLost as exc:
        return error_response(409, "lease_lost", str(exc), "lease_id")
    return LeaseOut(lease_id=lease.lease_id, expires_at=lease.expires_at.isoformat())


@api.post("/audio-url", response_model=AudioUrl)
def audio_url(
    request: Request, body: LeaseRef, staff: Annotated[Staff, Depends(reviewer_only)]
) -> Response | AudioUrl:
    """A link to the held item's audio, valid for this reviewer for a short while."""
    store = request.app.state.store
    now = utcnow()
    with store.db.read() as session:
        lease = queue.current_lease(session, reviewer_of(staff), now)
    if lease is None or lease.lease_id != body.lease_id:
        return error_response(409, "lease_lost", "you no longer hold this task", "lease_id")
    ttl = store.settings.policy.workbench.audio_url_seconds
    return issue(store.keyring, "lease", lease.lease_id, staff.id, now, ttl, "/api/workbench/audio")


@api.get("/audio/{token}")
def lease_audio(
    request: Request, token: str, staff: Annotated[Staff, Depends(reviewer_only)]
) -> Response:
    """What the held item serves (the anonymized recording, or the synthetic voice
    reading its masked transcript), watermarked for this reviewer and lease."""
    store = request.app.state.store
    now = utcnow()
    try:
        grant = verify(store.keyring, token, staff.id, "lease", now)
    except BadAudioToken as exc:
        return error_response(403, "bad_audio_link", str(exc))
    with store.db.read() as session:
        lease = queue.current_lease(session, reviewer_of(staff), now)
        if lease is None or lease.lease_id != grant.subject:
            return error_response(403, "not_your_task", "only the holder of the lease hears it")
        item = session.get(ReviewItem, lease.review_item_id)
        assert item is not None
        if item.audio_blob_key is None:
            return error_response(404, "no_audio", "this task's purpose serves no audio")
        wav = read_review_audio(store.keyring, store.blobs, item)
    return audio_response(request, wav, staff, {"lease": lease.lease_id, "item": item.id})
