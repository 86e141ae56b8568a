"""The privacy officer's view of the audit log: verify the chain, read and filter events.

Officers see who did what to which subject; they do not hear audio or read reviews
here. Events are read-only by construction: the log has no edit route at all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel
from sqlalchemy import select

from earmuff.audio.codec import ANY_FORMAT, AudioError, decode_audio
from earmuff.audio.watermark import Codebook, decode, evidence, match
from earmuff.audit.log import record
from earmuff.audit.marks import issued_codes, mark_subject, stream_of_mark
from earmuff.audit.misuse import open_count
from earmuff.audit.verification import verify_workspace
from earmuff.config import IngestLimits
from earmuff.store.crypto import watermark_key
from earmuff.store.models import AuditEvent, StaffUser
from earmuff.web.errors import error_response
from earmuff.web.ingest import read_body
from earmuff.web.pages import render
from earmuff.web.staff_auth import Staff, require

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/audit", tags=["audit"])
officers = require("audit")
PAGE_SIZE = 100
LEAK_LIMITS = IngestLimits(max_audio_bytes=20 * 1024 * 1024, max_duration_s=600.0)
"""A leaked copy may be longer or larger than any upload (a chat export, a recording)."""


class TraceResult(BaseModel):
    found: bool
    code: str | None = None
    streamed_to: str | None = None
    role: str | None = None
    lease: str | None = None
    second_listen: str | None = None
    safety_case: str | None = None
    review_item: str | None = None
    streamed_at: str | None = None
    sync_score: float | None = None
    matched_by: str | None = None
    """``issued codes`` when the copy matched one of the codes the log issued, ``blind``
    when it was decoded without them."""
    match_score: float | None = None


@api.post("/trace", response_model=TraceResult)
async def trace_leak(
    request: Request,
    staff: Annotated[Staff, Depends(officers)],
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
) -> Response | TraceResult:
    """Read the watermark of a leaked copy (the raw file as the body) and name its stream:
    matched among the codes the log issued (optionally streamed in [since, until)) first,
    decoded blind only if none matches."""
    store = request.app.state.store
    body = await read_body(request, LEAK_LIMITS.max_body_bytes)
    try:
        audio = decode_audio(body, LEAK_LIMITS, accept=ANY_FORMAT)
    except AudioError as exc:
        return error_response(exc.status, exc.code, exc.message, "audio")
    with store.db.read() as session:
        codes = issued_codes(session, since, until)
    seen = evidence(audio.samples, audio.sample_rate, watermark_key(store.keyring.master))
    matched = match(Codebook(codes), seen) if seen is not None and codes else None
    blind = decode(seen) if seen is not None and matched is None else None
    code = matched.payload if matched else blind.payload if blind else None
    with store.db.transaction() as session:
        stream = stream_of_mark(session, code) if code is not None else None
        record(
            session,
            f"staff:{staff.id}",
            "audit.leak_traced",
            mark_subject(code) if code is not None else "mark:none",
            {"found": stream is not None, "seconds": round(audio.duration_s, 1)},
        )
    if code is None or stream is None:
        return TraceResult(found=False)
    return TraceResult(
        found=True,
        code=stream.code,
        streamed_to=stream.username,
        role=stream.role,
        lease=stream.lease,
        second_listen=stream.second_listen,
        safety_case=stream.safety_case,
        review_item=stream.review_item,
        streamed_at=stream.streamed_at.isoformat(),
        sync_score=matched.sync_score if matched else blind.sync_score if blind else None,
        matched_by="issued codes" if matched else "blind",
        match_score=matched.score if matched else None,
    )


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
        verdict = verify_workspace(session, store.settings)
        chain, broken = verdict.summary(), not verdict.ok
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(PAGE_SIZE)
        if action:
            query = query.where(AuditEvent.action.startswith(action))
        if subject:
            query = query.where(AuditEvent.subject == subject)
        if before is not None:
            query = query.where(AuditEvent.id < before)
        events = list(session.scalars(query))
        open_alerts = open_count(session)
        names = {
            f"staff:{u.id}": f"{u.username} ({u.role.replace('_', ' ')})"
            for u in session.scalars(select(StaffUser))
        }
    return render(
        request,
        "staff/audit.html",
        staff,
        chain=chain,
        broken=broken,
        events=events,
        names=names,
        action=action,
        subject=subject,
        older=events[-1].id if len(events) == PAGE_SIZE else None,
        open_alerts=open_alerts,
    )
