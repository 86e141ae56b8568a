"""Which stream carried a watermark: the audit log's answer to "whose copy leaked?".

Every audio stream to a person is marked with a fresh random code and audited under
the subject ``mark:<code>``; reading a code back from a leaked copy and looking it up
here names the person, their role, the lease (or second listen, or safety case), the
item and the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.store.models import AuditEvent, StaffUser

STREAMED = "audio.streamed"


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
