"""Safety cases: a state machine with required notes, an SLA clock, and the policy beside it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from earmuff.audit.log import verify
from earmuff.config.policy import WorkbenchPolicy
from earmuff.review.escalation import (
    SAFETY_ACTIONS,
    CaseNotFound,
    InvalidTransition,
    get_case,
    list_cases,
    open_case,
    safety_policy,
    transition,
)
from earmuff.review.second_listen import request_second_listen
from earmuff.store import Store
from earmuff.store.models import AuditEvent, ReviewItem, SafetyCase, SecondListen, StaffUser
from tests.review.conftest import lease_task, make_item, make_staff

POLICY = WorkbenchPolicy()


def _open(
    store: Store, now: datetime, reason: str = "sensitive", category: str | None = "distress"
) -> tuple[str, str, str]:
    """An item flagged by a reviewer: (case id, item id, safety officer id)."""
    item_id = make_item(store)
    with store.db.transaction() as session:
        reviewer = make_staff(session, f"reviewer-{item_id[:6]}")
        officer = make_staff(session, f"officer-{item_id[:6]}", role="safety_officer")
        case = open_case(session, item_id, reason, category, reviewer, POLICY, now)
        return case.id, item_id, officer.id


def _step(
    store: Store,
    case_id: str,
    officer_id: str,
    to_state: str,
    now: datetime,
    note: str = "looked at it",
    action: str | None = None,
) -> SafetyCase:
    with store.db.transaction() as session:
        officer = session.get(StaffUser, officer_id)
        assert officer is not None
        return transition(session, case_id, to_state, note, officer, now, action=action)


def test_a_case_walks_open_triaged_decided_closed_with_a_note_and_an_audit_at_every_step(
    store: Store, now: datetime
) -> None:
    case_id, _, officer = _open(store, now)
    _step(store, case_id, officer, "triaged", now, "distress, no sign of danger")
    decided = _step(
        store,
        case_id,
        officer,
        "action_decided",
        now + timedelta(minutes=5),
        "offer support resources",
        action="user_support_outreach",
    )
    assert decided.action == "user_support_outreach"
    closed = _step(store, case_id, officer, "closed", now + timedelta(hours=2), "outreach done")
    assert closed.state == "closed" and closed.closed_at == now + timedelta(hours=2)

    with store.db.read() as session:
        case = get_case(session, case_id)
        steps = [(e.from_state, e.to_state, e.note) for e in case.events]
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.subject == f"case:{case_id}")
        ).all()
        assert verify(session) >= 4
    assert steps == [
        (None, "open", "flagged sensitive (distress)"),
        ("open", "triaged", "distress, no sign of danger"),
        ("triaged", "action_decided", "offer support resources"),
        ("action_decided", "closed", "outreach done"),
    ]
    assert actions == [
        "safety.case_opened",
        "safety.case_triaged",
        "safety.case_action_decided",
        "safety.case_closed",
    ]


@pytest.mark.parametrize(
    ("path", "target", "message"),
    [
        ([], "action_decided", "can only move to triaged, not to action_decided"),
        ([], "closed", "can only move to triaged"),
        ([], "open", "already open"),
        (["triaged"], "open", "can only move to action_decided"),
        (["triaged"], "closed", "can only move to action_decided"),
    ],
)
def test_a_case_moves_one_step_at_a_time_and_never_back(
    store: Store, now: datetime, path: list[str], target: str, message: str
) -> None:
    case_id, _, officer = _open(store, now)
    for state in path:
        _step(store, case_id, officer, state, now)
    with pytest.raises(InvalidTransition, match=message):
        _step(store, case_id, officer, target, now, action=None)
    with store.db.read() as session:
        case = get_case(session, case_id)
        assert case.state == (path[-1] if path else "open")
        assert len(case.events) == 1 + len(path)


@pytest.mark.parametrize("note", ["", "   ", "\n\t"])
def test_every_step_needs_a_note(store: Store, now: datetime, note: str) -> None:
    case_id, _, officer = _open(store, now)
    with pytest.raises(InvalidTransition, match="needs a note"):
        _step(store, case_id, officer, "triaged", now, note)


def test_a_note_has_a_length_limit(store: Store, now: datetime) -> None:
    case_id, _, officer = _open(store, now)
    with pytest.raises(InvalidTransition, match="at most 4000"):
        _step(store, case_id, officer, "triaged", now, "x" * 4001)


def test_deciding_needs_an_action_from_the_fixed_list_and_no_other_step_takes_one(
    store: Store, now: datetime
) -> None:
    case_id, _, officer = _open(store, now)
    with pytest.raises(InvalidTransition, match="only when moving to action_decided"):
        _step(store, case_id, officer, "triaged", now, action="legal_review")
    _step(store, case_id, officer, "triaged", now)
    with pytest.raises(InvalidTransition, match="deciding needs an action, one of no_action"):
        _step(store, case_id, officer, "action_decided", now)
    with pytest.raises(InvalidTransition, match="got 'call_the_neighbours'"):
        _step(store, case_id, officer, "action_decided", now, action="call_the_neighbours")
    for action in SAFETY_ACTIONS:
        assert action.islower() and " " not in action
    assert {
        "no_action_needed",
        "referred_to_emergency_services",
        "referred_to_law_enforcement",
        "user_support_outreach",
        "legal_review",
        "content_policy_review",
    } <= set(SAFETY_ACTIONS)


def test_a_closed_case_can_be_reopened_to_triage_with_its_clock_restarted(
    store: Store, now: datetime
) -> None:
    case_id, _, officer = _open(store, now)
    _step(store, case_id, officer, "triaged", now)
    _step(store, case_id, officer, "action_decided", now, action="no_action_needed")
    _step(store, case_id, officer, "closed", now)
    with pytest.raises(InvalidTransition, match="only be reopened to triaged"):
        _step(store, case_id, officer, "open", now)
    later = now + timedelta(days=3)
    reopened = _step(store, case_id, officer, "triaged", later, "the household called support")
    assert reopened.state == "triaged"
    assert reopened.action is None and reopened.closed_at is None
    assert reopened.sla_due_at == later + timedelta(hours=POLICY.safety_sla_hours)
    with store.db.read() as session:
        last = session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.subject == f"case:{case_id}")
            .order_by(AuditEvent.id.desc())
        ).first()
    assert last == "safety.case_reopened"


def test_unknown_cases_and_states_are_named_in_the_error(store: Store, now: datetime) -> None:
    case_id, _, officer = _open(store, now)
    with pytest.raises(CaseNotFound, match="no safety case nope"):
        _step(store, "nope", officer, "triaged", now)
    with pytest.raises(InvalidTransition, match="'resolved' is not a case state"):
        _step(store, case_id, officer, "resolved", now)


def test_someone_in_danger_runs_on_the_short_clock(store: Store, now: datetime) -> None:
    danger, _, _ = _open(store, now, reason="someone_in_danger", category=None)
    crime, _, _ = _open(store, now, reason="possible_crime", category=None)
    with store.db.read() as session:
        assert get_case(session, danger).sla_due_at == now + timedelta(hours=1)
        assert get_case(session, crime).sla_due_at == now + timedelta(hours=24)


def test_the_console_lists_waiting_cases_oldest_due_first_then_decided_ones(
    store: Store, now: datetime
) -> None:
    old, _, officer = _open(store, now - timedelta(hours=30))
    decided, _, _ = _open(store, now - timedelta(hours=40))
    _step(store, decided, officer, "triaged", now - timedelta(hours=39))
    _step(store, decided, officer, "action_decided", now, action="legal_review")
    danger, _, _ = _open(store, now - timedelta(minutes=20), reason="someone_in_danger")
    fresh, _, _ = _open(store, now)
    closed, _, _ = _open(store, now - timedelta(hours=50))
    for state, action in (
        ("triaged", None),
        ("action_decided", "no_action_needed"),
        ("closed", None),
    ):
        _step(store, closed, officer, state, now, action=action)

    with store.db.read() as session:
        rows = list_cases(session, now)
        everything = list_cases(session, now, include_closed=True)
    assert [row.id for row in rows] == [old, danger, fresh, decided]
    by_id = {row.id: row for row in rows}
    assert by_id[old].overdue and by_id[old].time_left == timedelta(hours=-6)
    assert not by_id[danger].overdue and by_id[danger].time_left == timedelta(minutes=40)
    assert by_id[decided].clock_running is False
    assert by_id[decided].overdue is False and by_id[decided].time_left is None
    assert by_id[decided].action == "legal_review"
    assert by_id[fresh].reason == "sensitive" and by_id[fresh].category == "distress"
    assert closed not in by_id and closed in {row.id for row in everything}


def test_a_case_outlives_its_deleted_item(store: Store, now: datetime) -> None:
    case_id, item_id, _ = _open(store, now)
    with store.db.transaction() as session:
        item = session.get(ReviewItem, item_id)
        session.delete(item)
    with store.db.read() as session:
        [row] = list_cases(session, now)
        assert row.id == case_id and row.item_available is False
        assert len(get_case(session, case_id).events) == 1


def test_escalating_an_item_withdraws_its_open_second_listen_requests(
    store: Store, now: datetime
) -> None:
    item_id = make_item(store)
    with store.db.transaction() as session:
        reviewer = make_staff(session, "reviewer")
        task = lease_task(session, item_id, reviewer, now)
        request = request_second_listen(
            session, task.lease_id or "", reviewer, 0.5, 1.5, 3.0, POLICY, now
        )
        open_case(session, item_id, "someone_in_danger", None, reviewer, POLICY, now)
    with store.db.read() as session:
        assert session.get(SecondListen, request.id).status == "withdrawn"  # type: ignore[union-attr]
        withdrawn = session.scalar(
            select(AuditEvent).where(AuditEvent.action == "second_listen.withdrawn")
        )
        assert withdrawn is not None and withdrawn.details == {"requests": 1}


def test_the_policy_text_states_this_deployments_figures() -> None:
    policy = WorkbenchPolicy(
        sensitive_per_shift=7,
        shift_hours=6.0,
        danger_sla_hours=0.5,
        safety_sla_hours=12.0,
        support_contact="Call the wellbeing line on extension 4242.",
    )
    text = safety_policy(policy)
    assert "more than 7 safety-pool\n  items in a 6-hour shift" in text
    assert "| `someone_in_danger` | 0.5 hour(s) |" in text
    assert "| `possible_crime`, `sensitive` | 12 hours |" in text
    assert "Call the wellbeing line on extension 4242." in text
    assert "$" not in text
    for action in SAFETY_ACTIONS:
        assert f"`{action}`" in text, action
    for words in ("someone_in_danger", "possible_crime", "Stop", "two-person rule", "911", "112"):
        assert words in text
