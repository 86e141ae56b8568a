"""Quality: how well reviewers agree, how they do on gold items, and choosing gold.

QA reviewers, unlike annotators, see other people's submissions: that is their job.
They see them here, as work to check, not as a browsable archive: the latest
submissions only, and no audio outside the workbench's own lease.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import literal, select

from earmuff.review.agreement import agreement_report
from earmuff.review.queue import GoldRefused, make_gold
from earmuff.store.models import Annotation, GoldAnswer, ReviewItem, StaffUser
from earmuff.store.review_items import ANNOTATION_TEXT, open_item_text
from earmuff.web.pages import render
from earmuff.web.staff_auth import Staff, require
from earmuff.web.workbench import reviewer_of

router = APIRouter(include_in_schema=False)
qa_only = require("qa")
RECENT = 50
CHECKABLE = ("queued", "done")
"""Pulled items leaked personal details and escalated ones belong to the safety team:
neither is shown here. Sensitive items only to QA reviewers in the safety pool."""


def _render(request: Request, staff: Staff, status: int = 200, **context: object) -> Response:
    store = request.app.state.store
    with store.db.read() as session:
        report = agreement_report(session, store.keyring)
        rows = session.execute(
            select(Annotation, ReviewItem, StaffUser.username, GoldAnswer.review_item_id)
            .join(ReviewItem, ReviewItem.id == Annotation.review_item_id)
            .join(StaffUser, StaffUser.id == Annotation.staff_id)
            .outerjoin(GoldAnswer, GoldAnswer.review_item_id == ReviewItem.id)
            .where(
                Annotation.outcome == "submitted",
                ReviewItem.key_sealed.is_not(None),
                ReviewItem.status.in_(CHECKABLE),
                ReviewItem.sensitive_category.is_(None) | literal(staff.safety_pool),
            )
            .order_by(Annotation.submitted_at.desc())
            .limit(RECENT)
        ).all()
        recent = [
            {
                "id": annotation.id,
                "item": item.id[:8],
                "locale": item.locale,
                "who": username,
                "transcript": open_item_text(
                    store.keyring, item, ANNOTATION_TEXT, annotation.transcript_sealed
                )
                if annotation.transcript_sealed
                else "",
                "intent": annotation.intent,
                "flags": ", ".join(annotation.flags),
                "gold": gold is not None,
            }
            for annotation, item, username, gold in rows
        ]
    return render(request, "staff/qa.html", staff, status, report=report, recent=recent, **context)


@router.get("/qa", response_class=HTMLResponse)
def qa_page(request: Request, staff: Annotated[Staff, Depends(qa_only)]) -> Response:
    return _render(request, staff)


@router.post("/qa/gold", response_class=HTMLResponse)
def set_gold(
    request: Request,
    staff: Annotated[Staff, Depends(qa_only)],
    annotation_id: Annotated[str, Form(max_length=64)],
) -> Response:
    store = request.app.state.store
    try:
        make_gold(store.db, store.keyring, reviewer_of(staff), annotation_id)
    except (GoldRefused, LookupError) as exc:
        return _render(request, staff, status=422, error=str(exc))
    return RedirectResponse("/qa", status_code=303)
