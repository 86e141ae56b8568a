"""Safety escalation: content someone must act on becomes a case with a clock running.

A case moves open → triaged → action_decided → closed, one step at a time, and every
step needs a note saying why: the record a safety officer would want to defend later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from earmuff.audit.log import record
from earmuff.config.policy import WorkbenchPolicy
from earmuff.store.models import SafetyCase, SafetyCaseEvent, StaffUser

ESCALATING_FLAGS = ("sensitive", "possible_crime", "someone_in_danger")


def open_case(
    session: Session,
    review_item_id: str,
    reason: str,
    category: str | None,
    opened_by: StaffUser,
    policy: WorkbenchPolicy,
    now: datetime,
) -> SafetyCase:
    """Open a case for an item inside the caller's transaction, and audit it."""
    if reason not in ESCALATING_FLAGS:
        raise ValueError(f"{reason!r} does not open a safety case")
    case = SafetyCase(
        review_item_id=review_item_id,
        reason=reason,
        category=category,
        state="open",
        opened_by_id=opened_by.id,
        opened_at=now,
        sla_due_at=now + timedelta(hours=policy.safety_sla_hours),
    )
    case.events.append(
        SafetyCaseEvent(
            staff_id=opened_by.id,
            from_state=None,
            to_state="open",
            note=f"flagged {reason}" + (f" ({category})" if category else ""),
            at=now,
        )
    )
    session.add(case)
    session.flush()
    record(
        session,
        f"staff:{opened_by.id}",
        "safety.case_opened",
        f"case:{case.id}",
        {"reason": reason, "category": category, "review_item": review_item_id},
    )
    return case
