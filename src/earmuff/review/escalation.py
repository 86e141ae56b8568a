"""Safety escalation: content someone must act on becomes a case with a clock running.

A case moves open → triaged → action_decided → closed, one step at a time, and every
step needs a note saying why: the record a safety officer would want to defend later.

A closed case may be reopened (closed → triaged). Something new can come to light
after a case is closed (the household calls support, an authority asks, an outreach
failed), and acting on the same record keeps its whole history in one place instead of
scattering it over a fresh case that knows nothing of the first. Reopening goes back
to triage, not to open: someone has already looked, and the reopening note is that
new look. The clock starts again with the case's original allowance.

The SLA clock measures how long a case waits for a decided action. It runs while the
case is open or triaged and stops when the action is decided; closing is bookkeeping.

Who may move a case is the web layer's permission table (``web/permissions.py``); the
rules here hold whoever calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib.resources import files
from string import Template
from types import MappingProxyType

from sqlalchemy import case as sql_case
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from earmuff.audit.log import record
from earmuff.config.policy import WorkbenchPolicy
from earmuff.review.second_listen import withdraw_for_item
from earmuff.store.models import SAFETY_STATES, SafetyCase, SafetyCaseEvent, StaffUser

ESCALATING_FLAGS = ("sensitive", "possible_crime", "someone_in_danger")

SAFETY_ACTIONS: MappingProxyType[str, str] = MappingProxyType(
    {
        "no_action_needed": "nobody is at risk and no policy applies (a film, a joke, "
        "a mishearing)",
        "user_support_outreach": "the household is offered help through customer support, "
        "under the two-person rule",
        "referred_to_emergency_services": "imminent risk to life or safety: the emergency "
        "services at the household's location were called",
        "referred_to_child_protection": "a child at risk without an emergency: the child "
        "protection authority, through the legal team",
        "referred_to_law_enforcement": "a crime without immediate danger, reported through "
        "the legal team's process",
        "legal_review": "counsel decides: the duty to act is unclear, or authorities asked",
        "content_policy_review": "a question about what the assistant did or said, for the "
        "content policy team",
    }
)
"""The actions a safety officer may decide, each with what it means. A fixed list, so
the console's figures (how many referrals, how many false alarms) add up."""

NEXT_STATE: MappingProxyType[str, str] = MappingProxyType(
    {"open": "triaged", "triaged": "action_decided", "action_decided": "closed"}
)
REOPEN_TO = "triaged"
ACTIVE_STATES = ("open", "triaged", "action_decided")
CLOCK_STATES = ("open", "triaged")
MAX_NOTE_CHARS = 4000
POLICY_TEXT = "safety_policy.md"


class InvalidTransition(ValueError):
    """The step is not allowed from the case's state, or its note or action is wrong."""


class CaseNotFound(LookupError):
    """No safety case has this id."""


def open_case(
    session: Session,
    review_item_id: str,
    reason: str,
    category: str | None,
    opened_by: StaffUser,
    policy: WorkbenchPolicy,
    now: datetime,
) -> SafetyCase:
    """Open a case for an item inside the caller's transaction, and audit it.

    The item leaves the second-listen requests too: an escalated item is heard by the
    safety officers alone.
    """
    if reason not in ESCALATING_FLAGS:
        raise ValueError(f"{reason!r} does not open a safety case")
    sla_hours = (
        policy.danger_sla_hours if reason == "someone_in_danger" else policy.safety_sla_hours
    )
    case = SafetyCase(
        review_item_id=review_item_id,
        reason=reason,
        category=category,
        state="open",
        opened_by_id=opened_by.id,
        opened_at=now,
        sla_due_at=now + timedelta(hours=sla_hours),
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
    withdraw_for_item(session, review_item_id, f"staff:{opened_by.id}")
    return case


def transition(
    session: Session,
    case_id: str,
    to_state: str,
    note: str,
    staff: StaffUser,
    now: datetime,
    action: str | None = None,
) -> SafetyCase:
    """Move a case one step (or reopen a closed one), with the note that justifies it.

    ``action`` is required when deciding (one of :data:`SAFETY_ACTIONS`) and refused on
    every other step. The row is locked first, so two officers moving the same case at
    once are serialised and the second sees the first's step.
    """
    text = note.strip()
    if not text:
        raise InvalidTransition("every step of a safety case needs a note saying why")
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidTransition(f"a note is at most {MAX_NOTE_CHARS} characters")
    if to_state not in SAFETY_STATES:
        raise InvalidTransition(
            f"{to_state!r} is not a case state; states are {', '.join(SAFETY_STATES)}"
        )
    case = session.get(SafetyCase, case_id, with_for_update=True, populate_existing=True)
    if case is None:
        raise CaseNotFound(f"no safety case {case_id}")
    from_state = case.state
    reopening = from_state == "closed" and to_state == REOPEN_TO
    if not reopening and NEXT_STATE.get(from_state) != to_state:
        raise InvalidTransition(_refusal(from_state, to_state))
    if to_state == "action_decided":
        if action not in SAFETY_ACTIONS:
            raise InvalidTransition(
                f"deciding needs an action, one of {', '.join(SAFETY_ACTIONS)}"
                + (f" (got {action!r})" if action else "")
            )
        case.action = action
    elif action is not None:
        raise InvalidTransition("an action is chosen only when moving to action_decided")
    if reopening:
        case.sla_due_at = now + (case.sla_due_at - case.opened_at)
        case.action = None
        case.closed_at = None
    if to_state == "closed":
        case.closed_at = now
    case.state = to_state
    case.events.append(
        SafetyCaseEvent(
            staff_id=staff.id, from_state=from_state, to_state=to_state, note=text, at=now
        )
    )
    session.flush()
    record(
        session,
        f"staff:{staff.id}",
        "safety.case_reopened" if reopening else f"safety.case_{to_state}",
        f"case:{case.id}",
        {"from": from_state, "to": to_state, "action": case.action},
    )
    return case


def _refusal(from_state: str, to_state: str) -> str:
    if from_state == to_state:
        return f"the case is already {from_state}"
    if from_state == "closed":
        return f"a closed case can only be reopened to {REOPEN_TO}"
    return (
        f"a case that is {from_state} can only move to {NEXT_STATE[from_state]}, "
        f"not to {to_state}: one step at a time"
    )


@dataclass(frozen=True)
class CaseSummary:
    """One row of the safety console."""

    id: str
    state: str
    reason: str
    category: str | None
    action: str | None
    opened_at: datetime
    sla_due_at: datetime
    clock_running: bool
    """Open or triaged: still waiting for a decided action."""
    overdue: bool
    time_left: timedelta | None
    """Until the SLA is due (negative once overdue); None once the clock has stopped."""
    item_available: bool
    """False once the item was deleted (retention, the owner's request): the record of
    the case stays, its audio does not."""


def list_cases(session: Session, now: datetime, include_closed: bool = False) -> list[CaseSummary]:
    """Cases for the console: those still waiting for a decision first, oldest-due first,
    then those whose clock has stopped, also by due time."""
    states = SAFETY_STATES if include_closed else ACTIVE_STATES
    waiting = sql_case((SafetyCase.state.in_(CLOCK_STATES), 0), else_=1)
    rows = session.scalars(
        select(SafetyCase)
        .where(SafetyCase.state.in_(states))
        .order_by(waiting, SafetyCase.sla_due_at, SafetyCase.id)
    )
    return [_summary(case, now) for case in rows]


def _summary(case: SafetyCase, now: datetime) -> CaseSummary:
    running = case.state in CLOCK_STATES
    return CaseSummary(
        id=case.id,
        state=case.state,
        reason=case.reason,
        category=case.category,
        action=case.action,
        opened_at=case.opened_at,
        sla_due_at=case.sla_due_at,
        clock_running=running,
        overdue=running and now > case.sla_due_at,
        time_left=case.sla_due_at - now if running else None,
        item_available=case.review_item_id is not None,
    )


def get_case(session: Session, case_id: str) -> SafetyCase:
    """A case with its events (oldest first), for the case page."""
    case = session.scalar(
        select(SafetyCase).where(SafetyCase.id == case_id).options(selectinload(SafetyCase.events))
    )
    if case is None:
        raise CaseNotFound(f"no safety case {case_id}")
    return case


def safety_policy(policy: WorkbenchPolicy) -> str:
    """The procedure shown beside every case (Markdown), with this deployment's figures:
    the text cannot promise a cap or a deadline the policy does not enforce."""
    template = Template(files("earmuff.review").joinpath(POLICY_TEXT).read_text("utf-8"))
    return template.substitute(
        danger_sla_hours=f"{policy.danger_sla_hours:g}",
        safety_sla_hours=f"{policy.safety_sla_hours:g}",
        sensitive_per_shift=str(policy.sensitive_per_shift),
        shift_hours=f"{policy.shift_hours:g}",
        support_contact=policy.support_contact,
    )
