"""Which stream carried a watermark: the audit log's answer to "whose copy leaked?".

Every audio stream to a person is marked with a fresh random code and audited under
the subject ``mark:<code>``; reading a code back from a leaked copy and looking it up
here names the person, their role, the lease (or second listen, or safety case), the
item and the time.

A leaked copy is matched among the codes the log says were issued
(:func:`issued_codes`) before it is decoded blind: choosing among known codes needs far
less of the mark to survive than reading 48 unknown bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.audio.watermark import PAYLOAD_BYTES
from earmuff.store.models import AuditEvent, StaffUser

STREAMED = "audio.streamed"
_MARK_PREFIX = "mark:"
_AFTER_MARKS = "mark;"
"""The first subject past every ``mark:...`` one (``;`` follows ``:``), so the prefix
is a range on the subject index rather than a LIKE that SQLite may not index."""


def mark_subject(code: bytes) -> str:
    return f"mark:{code.hex()}"


@dataclass(frozen=True)
class MarkedStream:
    code: str
    streamed_at: datetime
    staff_id: str
    username: str | None
    role: str | None
    lease: str | None
    second_listen: str | None
    safety_case: str | None
    review_item: str | None


def stream_of_mark(session: Session, code: bytes) -> MarkedStream | None:
    event = session.scalar(
        select(AuditEvent).where(
            AuditEvent.subject == mark_subject(code), AuditEvent.action == STREAMED
        )
    )
    if event is None:
        return None
    details = event.details
    staff = session.get(StaffUser, details.get("staff", ""))
    return MarkedStream(
        code=code.hex(),
        streamed_at=event.occurred_at,
        staff_id=details.get("staff", ""),
        username=staff.username if staff is not None else None,
        role=details.get("role"),
        lease=details.get("lease"),
        second_listen=details.get("second_listen"),
        safety_case=details.get("safety_case"),
        review_item=details.get("item"),
    )


def issued_codes(
    session: Session, since: datetime | None = None, until: datetime | None = None
) -> list[bytes]:
    """Every mark code the log says was streamed, each once, optionally only those
    streamed in [``since``, ``until``): the candidates a leaked copy is matched among.

    One query on the subject index, reading the subject column only, so a log of a
    million streams yields its codes in seconds; a time window keeps the candidates,
    and so the match threshold, down when the leak's date is roughly known.
    """
    query = (
        select(AuditEvent.subject)
        .where(
            AuditEvent.subject >= _MARK_PREFIX,
            AuditEvent.subject < _AFTER_MARKS,
            AuditEvent.action == STREAMED,
        )
        .distinct()
    )
    if since is not None:
        query = query.where(AuditEvent.occurred_at >= since)
    if until is not None:
        query = query.where(AuditEvent.occurred_at < until)
    codes = []
    for subject in session.scalars(query):
        try:
            code = bytes.fromhex(subject[len(_MARK_PREFIX) :])
        except ValueError:
            continue
        if len(code) == PAYLOAD_BYTES:
            codes.append(code)
    return codes
