"""Misuse noticed: each rule over the audit trail fires on its pattern and only on it,
an alert is raised once however often the scan runs, and privacy officers (only they)
see and acknowledge alerts, on the record.

Events are appended through the real log (``record``) at chosen times, and the rows
they name (leases, annotations, cases) are built as the services leave them.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from earmuff.audit import log as audit_log
from earmuff.audit.log import record, verify
from earmuff.audit.marks import STREAMED, mark_subject
from earmuff.audit.misuse import (
    RULES,
    Alert,
    FastSubmissions,
    LeakTraced,
    MisuseRule,
    WorkingHours,
    bucket_bounds,
    scan,
)
from earmuff.cli.main import app as cli_app
from earmuff.config.policy import REVIEWER_ROLES, MisusePolicy, Policy, StaffRole
from earmuff.store import Store
from earmuff.store.models import (
    STAFF_ROLES,
    Annotation,
    AuditEvent,
    LeaseGrant,
    MisuseAlert,
    ReviewTask,
    SafetyCase,
    SecondListen,
    new_id,
    utcnow,
)
from earmuff.web import create_app
from tests.review.conftest import make_item, make_staff
from tests.workbench.staff import Person, add_person, sign_in

T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
"""A Wednesday morning, inside the default working hours."""
BEFORE = T0 - timedelta(hours=6)
AFTER = T0 + timedelta(hours=6)


class Clock:
    """Sets the time the audit log stamps on the events appended next."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.now = T0
        monkeypatch.setattr(audit_log, "utcnow", lambda: self.now)

    def at(self, when: datetime) -> Clock:
        self.now = when
        return self


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def with_policy(store: Store, **misuse: Any) -> None:
    store.settings = dataclasses.replace(
        store.settings, policy=Policy(misuse=MisusePolicy.model_validate(misuse))
    )


def person(store: Store, name: str, role: str = "annotator", locales: str = "en-US") -> str:
    with store.db.transaction() as session:
        return make_staff(session, name, role, locales).id


def append(
    store: Store,
    clock: Clock,
    when: datetime,
    actor: str,
    action: str,
    subject: str,
    **details: Any,
) -> None:
    clock.at(when)
    with store.db.transaction() as session:
        record(session, actor, action, subject, details)


def stream(store: Store, clock: Clock, when: datetime, staff: str, role: str, **grant: Any) -> str:
    """An ``audio.streamed`` event as the audio routes append it; its mark subject."""
    subject = mark_subject(secrets.token_bytes(6))
    append(store, clock, when, f"staff:{staff}", STREAMED, subject, staff=staff, role=role, **grant)
    return subject


def granted(
    store: Store, staff: str, item: str, at: datetime, task_id: str | None = None
) -> tuple[str, str]:
    """A lease on a new task of ``item`` (or on task ``task_id``), granted to ``staff``
    at ``at``: (lease, task)."""
    lease_id = new_id()
    with store.db.transaction() as session:
        if task_id is None:
            task = ReviewTask(review_item_id=item, locale="en-US", status="done", available_at=at)
            session.add(task)
            session.flush()
            task_id = task.id
        session.add(
            LeaseGrant(
                lease_id=lease_id,
                task_id=task_id,
                review_item_id=item,
                staff_id=staff,
                pool="general",
                granted_at=at,
            )
        )
        return lease_id, task_id


def submitted(
    session: Session, staff: str, item: str, task: str, started: datetime, took_s: float
) -> None:
    session.add(
        Annotation(
            task_id=task,
            review_item_id=item,
            staff_id=staff,
            staff_role="annotator",
            outcome="submitted",
            started_at=started,
            submitted_at=started + timedelta(seconds=took_s),
        )
    )


def found(store: Store, since: datetime = BEFORE, now: datetime = AFTER) -> list[MisuseAlert]:
    return scan(store, since, now)


def rules_of(alerts: list[MisuseAlert]) -> list[str]:
    return sorted(alert.rule for alert in alerts)


# 1. Plays far beyond what a task needs.


@pytest.mark.parametrize(("plays", "alerts"), [(4, ["repeated_plays"]), (3, [])])
def test_an_item_played_more_often_than_the_policy_allows_raises_an_alert(
    store: Store, clock: Clock, plays: int, alerts: list[str]
) -> None:
    with_policy(store, max_plays_per_lease=3)
    ann = person(store, "ann")
    item = make_item(store)
    lease, _ = granted(store, ann, item, T0)
    for play in range(plays):
        stream(
            store,
            clock,
            T0 + timedelta(seconds=10 * play),
            ann,
            "annotator",
            lease=lease,
            item=item,
        )
    raised = found(store)
    assert rules_of(raised) == alerts
    if alerts:
        assert raised[0].staff_id == ann
        assert raised[0].details["plays"] == 4
        assert "4 plays of item" in raised[0].summary


def test_a_safety_case_has_its_own_allowance(store: Store, clock: Clock) -> None:
    with_policy(store, max_plays_per_lease=2, max_plays_per_case=5)
    sam = person(store, "sam", "safety_officer")
    item = make_item(store)
    with store.db.transaction() as session:
        case = SafetyCase(
            review_item_id=item,
            reason="someone_in_danger",
            opened_by_id=sam,
            opened_at=T0 - timedelta(hours=1),
            sla_due_at=T0,
        )
        session.add(case)
        session.flush()
        case_id = case.id
    for play in range(5):
        stream(
            store,
            clock,
            T0 + timedelta(minutes=play),
            sam,
            "safety_officer",
            safety_case=case_id,
            item=item,
        )
    assert found(store) == []
    stream(
        store,
        clock,
        T0 + timedelta(minutes=9),
        sam,
        "safety_officer",
        safety_case=case_id,
        item=item,
    )
    assert rules_of(found(store)) == ["repeated_plays"]


# 2. Submitting faster than the audio lasts.


def test_submissions_faster_than_their_audio_raise_an_alert_when_repeated(store: Store) -> None:
    with_policy(store, fast_submissions_per_day=2)
    ann = person(store, "ann")
    short = make_item(store, seconds=3.0)  # bucket 2-5s
    other = make_item(store, seconds=3.0, seed=1)
    _, task_a = granted(store, ann, short, T0)
    _, task_b = granted(store, ann, other, T0 + timedelta(minutes=1))
    with store.db.transaction() as session:
        submitted(session, ann, short, task_a, T0, 1.0)  # under the bucket's 2 s floor
        submitted(session, ann, other, task_b, T0 + timedelta(minutes=1), 2.5)  # under 3.0 s
    raised = found(store)
    assert rules_of(raised) == ["fast_submissions"]
    assert raised[0].staff_id == ann
    assert raised[0].details["submissions"] == 2
    assert "faster than their audio" in raised[0].summary


def test_submissions_that_take_as_long_as_the_audio_raise_nothing(store: Store) -> None:
    with_policy(store, fast_submissions_per_day=2)
    ann = person(store, "ann")
    item = make_item(store, seconds=3.0)
    other = make_item(store, seconds=3.0, seed=1)
    _, task_a = granted(store, ann, item, T0)
    _, task_b = granted(store, ann, other, T0 + timedelta(minutes=1))
    with store.db.transaction() as session:
        submitted(session, ann, item, task_a, T0, 1.0)  # one slip
        submitted(session, ann, other, task_b, T0 + timedelta(minutes=1), 3.5)  # heard it all
    assert found(store) == []


def test_the_exact_duration_is_read_only_when_the_bucket_cannot_decide(store: Store) -> None:
    read: list[str] = []

    def audio_seconds(_session: Session, item_id: str) -> float | None:
        read.append(item_id)
        return 3.0

    rule = FastSubmissions(dataclasses.replace(context_of(store), audio_seconds=audio_seconds))
    with store.db.read() as session:
        assert rule._lasts_longer(session, "a", "2-5s", 1.0) == 2.0
        assert rule._lasts_longer(session, "b", "2-5s", 6.0) is None
        assert read == []
        assert rule._lasts_longer(session, "c", "2-5s", 2.5) == 3.0
        assert rule._lasts_longer(session, "d", "2-5s", 3.2) is None
        assert read == ["c", "d"]
    assert bucket_bounds("<2s") == (0.0, 2.0)
    assert bucket_bounds(">30s") == (30.0, None)
    assert bucket_bounds("odd") == (0.0, None)


def context_of(store: Store) -> Any:
    from earmuff.audit.misuse import ItemAudio, RuleContext

    return RuleContext(store.settings.policy.misuse, ItemAudio(store.keyring, store.blobs))


# 3. Audio fetched without a lease (the log cross-checked against the grants).


def test_a_stream_inside_a_live_lease_raises_nothing(store: Store, clock: Clock) -> None:
    ann = person(store, "ann")
    item = make_item(store)
    lease, task = granted(store, ann, item, T0)
    stream(store, clock, T0 + timedelta(minutes=1), ann, "annotator", lease=lease, item=item)
    with store.db.transaction() as session:
        submitted(session, ann, item, task, T0, 300)
    stream(
        store,
        clock,
        T0 + timedelta(minutes=5, seconds=10),
        ann,
        "annotator",
        lease=lease,
        item=item,
    )
    assert found(store) == []


@pytest.mark.parametrize(
    "case",
    ["never granted", "someone else's", "another item", "after submitting", "after re-lease"],
)
def test_a_stream_no_lease_of_its_listener_covers_raises_an_alert(
    store: Store, clock: Clock, case: str
) -> None:
    ann = person(store, "ann")
    bob = person(store, "bob")
    item = make_item(store)
    lease, task = granted(store, ann, item, T0)
    listener, grant, heard_item = ann, lease, item
    if case == "never granted":
        grant = new_id()
    elif case == "someone else's":
        listener = bob
    elif case == "another item":
        heard_item = make_item(store, seed=4)
    elif case == "after submitting":
        with store.db.transaction() as session:
            submitted(session, ann, item, task, T0, 60)
    else:
        granted(store, bob, item, T0 + timedelta(minutes=20), task_id=task)
    subject = stream(
        store,
        clock,
        T0 + timedelta(minutes=30),
        listener,
        "annotator",
        lease=grant,
        item=heard_item,
    )
    raised = found(store)
    assert rules_of(raised) == ["unleased_audio"], [a.summary for a in raised]
    assert raised[0].key == subject
    assert raised[0].staff_id == listener


def test_second_listens_and_cases_are_checked_against_their_own_rows(
    store: Store, clock: Clock
) -> None:
    ann = person(store, "ann")
    quinn = person(store, "quinn", "qa_reviewer")
    sam = person(store, "sam", "safety_officer")
    item = make_item(store)
    with store.db.transaction() as session:
        listen = SecondListen(
            review_item_id=item,
            locale="en-US",
            start_s=0.0,
            end_s=1.0,
            requested_by_id=ann,
            created_at=T0,
            answered_by_id=quinn,
            answered_at=T0 + timedelta(minutes=5),
            status="answered",
        )
        case = SafetyCase(
            review_item_id=item,
            reason="possible_crime",
            opened_by_id=sam,
            opened_at=T0,
            sla_due_at=T0 + timedelta(hours=24),
        )
        session.add_all([listen, case])
        session.flush()
        listen_id, case_id = listen.id, case.id
    fine = [
        stream(
            store, clock, T0 + timedelta(minutes=1), quinn, "qa_reviewer", second_listen=listen_id
        ),
        stream(
            store,
            clock,
            T0 + timedelta(minutes=2),
            sam,
            "safety_officer",
            safety_case=case_id,
            item=item,
        ),
    ]
    wrong = [
        stream(store, clock, T0 + timedelta(minutes=3), ann, "annotator", second_listen=listen_id),
        stream(
            store, clock, T0 + timedelta(minutes=9), quinn, "qa_reviewer", second_listen=listen_id
        ),
        stream(
            store,
            clock,
            T0 + timedelta(minutes=4),
            ann,
            "annotator",
            safety_case=case_id,
            item=item,
        ),
        stream(
            store,
            clock,
            T0 - timedelta(minutes=4),
            sam,
            "safety_officer",
            safety_case=case_id,
            item=item,
        ),
        stream(store, clock, T0 + timedelta(minutes=5), ann, "annotator"),
    ]
    raised = found(store)
    assert {a.key for a in raised if a.rule == "unleased_audio"} == set(wrong)
    assert not set(fine) & {a.key for a in raised}


# 4. Work outside the working hours.


def test_a_reviewer_working_outside_the_hours_raises_one_alert_per_day(
    store: Store, clock: Clock
) -> None:
    with_policy(store, working_hours="07:00-20:00")
    ann = person(store, "ann")
    priya = person(store, "priya", "privacy_officer")
    night = T0.replace(hour=22, minute=30)
    for minutes in (0, 5, 10):
        append(
            store,
            clock,
            night + timedelta(minutes=minutes),
            f"staff:{ann}",
            "staff.signed_in",
            f"staff:{ann}",
        )
    append(store, clock, night, f"staff:{priya}", "staff.signed_in", f"staff:{priya}")
    append(
        store,
        clock,
        night,
        "anonymous",
        "staff.sign_in_failed",
        f"staff:{ann}",
        via="web",
        factor="password",
    )
    raised = found(store, now=T0 + timedelta(days=1))
    assert rules_of(raised) == ["out_of_hours"]
    assert raised[0].staff_id == ann
    assert raised[0].details["events"] == 3
    assert "at 22:30" in raised[0].summary


def test_work_inside_the_hours_raises_nothing(store: Store, clock: Clock) -> None:
    with_policy(store, working_hours="07:00-20:00")
    ann = person(store, "ann")
    for hour in (7, 12, 19):
        append(
            store,
            clock,
            T0.replace(hour=hour, minute=59),
            f"staff:{ann}",
            "staff.signed_in",
            f"staff:{ann}",
        )
    assert found(store, since=T0.replace(hour=0), now=T0 + timedelta(days=1)) == []


def test_hours_are_read_in_the_zone_of_the_reviewers_locale(store: Store, clock: Clock) -> None:
    with_policy(
        store,
        working_hours="07:00-20:00",
        time_zone="UTC",
        locale_time_zones={"de-DE": "Europe/Berlin"},
    )
    berlin = person(store, "greta", locales="de-DE")
    london = person(store, "lee", locales="en-GB")
    evening = T0.replace(hour=19, minute=30)  # 20:30 in Berlin in December
    for who in (berlin, london):
        append(store, clock, evening, f"staff:{who}", "staff.signed_in", f"staff:{who}")
    raised = found(store, now=T0 + timedelta(days=1))
    assert [(a.rule, a.staff_id) for a in raised] == [("out_of_hours", berlin)]
    assert raised[0].details["time_zone"] == "Europe/Berlin"


def test_working_hours_may_span_midnight() -> None:
    night_shift = WorkingHours.parse("22:00-06:00")
    assert night_shift.allows(T0.replace(hour=23))
    assert night_shift.allows(T0.replace(hour=5, minute=59))
    assert not night_shift.allows(T0.replace(hour=6))
    always = WorkingHours.parse("00:00-24:00")
    assert always.allows(T0.replace(hour=23, minute=59))


# 5. Many re-identification requests.


@pytest.mark.parametrize(("requests", "alerts"), [(3, ["many_reidentifications"]), (2, [])])
def test_many_reidentification_requests_by_one_officer_raise_an_alert(
    store: Store, clock: Clock, requests: int, alerts: list[str]
) -> None:
    with_policy(store, reidentifications_per_window=2, reidentification_window_hours=24)
    sam = person(store, "sam", "safety_officer")
    other = person(store, "sue", "safety_officer")
    for n in range(requests):
        append(
            store,
            clock,
            T0 + timedelta(minutes=n),
            f"staff:{sam}",
            "reidentification.requested",
            f"reidentification:{new_id()}",
            item=new_id(),
            fields=["locale"],
        )
    append(
        store,
        clock,
        T0,
        f"staff:{other}",
        "reidentification.requested",
        f"reidentification:{new_id()}",
    )
    raised = found(store)
    assert rules_of(raised) == alerts
    if alerts:
        assert raised[0].staff_id == sam
        assert raised[0].details["window_start"] == "2026-12-02T00:00:00+00:00"


def test_requests_in_different_windows_are_not_added_up(store: Store, clock: Clock) -> None:
    with_policy(store, reidentifications_per_window=2, reidentification_window_hours=24)
    sam = person(store, "sam", "safety_officer")
    for when in (T0 - timedelta(days=1), T0, T0 + timedelta(minutes=1)):
        append(
            store,
            clock,
            when,
            f"staff:{sam}",
            "reidentification.requested",
            f"reidentification:{new_id()}",
        )
    assert found(store, since=T0 - timedelta(days=2)) == []


# 6. A leaked copy traced to a listener.


def leak(store: Store, clock: Clock, found_it: bool = True, at: datetime = T0) -> tuple[str, str]:
    """A stream to a reviewer at ``at`` and, two hours later, a trace of a leaked copy
    that found its mark (or found none): (the reviewer, the mark's subject)."""
    ann = person(store, "ann")
    item = make_item(store)
    lease, _ = granted(store, ann, item, at)
    subject = stream(
        store, clock, at + timedelta(minutes=1), ann, "annotator", lease=lease, item=item
    )
    append(
        store,
        clock,
        at + timedelta(hours=2),
        "staff:someone",
        "audit.leak_traced",
        subject if found_it else "mark:none",
        found=found_it,
        seconds=4.0,
    )
    return ann, subject


def test_a_traced_leak_raises_an_alert_naming_the_listener(store: Store, clock: Clock) -> None:
    ann, subject = leak(store, clock)
    raised = found(store)
    assert rules_of(raised) == ["leak_traced"]
    assert raised[0].staff_id == ann
    assert raised[0].key == subject
    assert f"streamed to staff {ann} (annotator) under lease" in raised[0].summary


def test_a_trace_that_found_no_mark_raises_nothing(store: Store, clock: Clock) -> None:
    leak(store, clock, found_it=False)
    assert found(store) == []


# The engine: once only, audited, logged, open to new rules.


def test_an_alert_is_raised_once_however_often_the_scan_runs(
    store: Store, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    ann, _ = leak(store, clock)
    with caplog.at_level(logging.WARNING, logger="earmuff.audit.misuse"):
        first = found(store)
    assert len(first) == 1
    assert "misuse alert" in caplog.text and "leak_traced" in caplog.text
    assert found(store) == []
    assert found(store, since=T0 - timedelta(days=3), now=T0 + timedelta(days=1)) == []
    with store.db.read() as session:
        assert session.scalars(select(MisuseAlert.rule)).all() == ["leak_traced"]
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "misuse.alert")
        ).all()
        assert [(e.subject, e.details["rule"], e.details["staff"]) for e in events] == [
            (f"misuse_alert:{first[0].id}", "leak_traced", ann)
        ]
        verify(session)


class EveryStream(MisuseRule):
    """A rule written for this test: the engine runs it like the built-in ones."""

    name: ClassVar[str] = "every_stream"
    description: ClassVar[str] = "Any audio stream at all."

    def find(self, session: Session, since: datetime, now: datetime) -> list[Alert]:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == STREAMED)).all()
        return [self.alert(e.subject, None, e.occurred_at, "a stream") for e in events]


class Broken(MisuseRule):
    name: ClassVar[str] = "broken"
    description: ClassVar[str] = "Always fails."

    def find(self, session: Session, since: datetime, now: datetime) -> list[Alert]:
        raise RuntimeError("a bug in a rule")


def test_a_new_rule_plugs_in_and_a_failing_one_stops_no_other(
    store: Store, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    leak(store, clock)
    with caplog.at_level(logging.ERROR, logger="earmuff.audit.misuse"):
        raised = scan(store, BEFORE, AFTER, rules=[Broken, EveryStream, LeakTraced])
    assert rules_of(raised) == ["every_stream", "leak_traced"]
    assert "misuse rule broken failed" in caplog.text
    assert len({rule.name for rule in RULES}) == len(RULES) == 6


def test_the_server_scans_on_a_timer(store: Store, clock: Clock) -> None:
    """The server scans the real recent past, so the stream is put at the last 10:00
    UTC whose trace two hours later has happened: inside working hours whenever the
    test runs."""
    now = utcnow()
    at = now.replace(hour=10, minute=0, second=0, microsecond=0)
    if at + timedelta(hours=2) > now:
        at -= timedelta(days=1)
    leak(store, clock, at=at)
    with TestClient(create_app(store=store, misuse_interval_s=3600)):
        deadline = time.monotonic() + 10
        while not alert_rows(store) and time.monotonic() < deadline:
            time.sleep(0.05)
    assert [a.rule for a in alert_rows(store)] == ["leak_traced"]


def alert_rows(store: Store) -> list[MisuseAlert]:
    with store.db.read() as session:
        return list(session.scalars(select(MisuseAlert)))


def test_earmuff_audit_scan_raises_and_prints_the_alerts(store: Store, clock: Clock) -> None:
    leak(store, clock)
    runner = CliRunner()
    env = {"EARMUFF_DATABASE_URL": store.settings.database_url}
    workspace = ["-w", str(store.settings.workspace)]
    result = runner.invoke(
        cli_app, ["audit", "scan", "--since", "2026-12-01T00:00:00Z", *workspace], env=env
    )
    assert result.exit_code == 0, result.output
    assert "ALERT leak_traced" in result.output and "1 new alert(s)" in result.output
    again = runner.invoke(
        cli_app, ["audit", "scan", "--since", "2026-12-01T00:00:00Z", *workspace], env=env
    )
    assert "0 new alert(s)" in again.output
    for bad, message in [
        ("yesterday", "is not an ISO 8601 time"),
        ("2026-12-01T00:00:00", "needs a time zone"),
        ("2999-01-01T00:00:00Z", "must lie in the past"),
    ]:
        refused = runner.invoke(cli_app, ["audit", "scan", "--since", bad, *workspace], env=env)
        assert refused.exit_code == 1 and message in refused.output, refused.output
    assert len(alert_rows(store)) == 1


# The officers' page.


def officer_client(store: Store, who: Person) -> tuple[TestClient, str]:
    client = TestClient(create_app(store=store), base_url="https://testserver")
    return client, sign_in(client, who)


def test_a_privacy_officer_sees_and_acknowledges_an_alert_on_the_record(
    store: Store, clock: Clock
) -> None:
    leak(store, clock)
    (alert,) = found(store)
    priya = add_person(store, "priya", "privacy_officer")
    client, csrf = officer_client(store, priya)
    page = client.get("/audit/alerts")
    assert page.status_code == 200
    assert f'id="alert-{alert.id}"' in page.text and "ann (annotator)" in page.text
    assert "Misuse alerts: 1 open" in client.get("/audit").text
    done = client.post(
        f"/audit/alerts/{alert.id}/acknowledge",
        data={"csrf_token": csrf, "note": "spoke with the reviewer"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with store.db.read() as session:
        row = session.get(MisuseAlert, alert.id)
        assert row is not None and row.acknowledged_by_id == priya.id
        assert row.acknowledgement_note == "spoke with the reviewer"
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "misuse.acknowledged")
        ).one()
        assert (event.actor, event.subject) == (f"staff:{priya.id}", f"misuse_alert:{alert.id}")
    assert f'id="alert-{alert.id}"' not in client.get("/audit/alerts").text
    shown = client.get("/audit/alerts?show=all").text
    assert f'id="alert-{alert.id}"' in shown and "spoke with the reviewer" in shown


def acknowledgements(store: Store) -> int:
    with store.db.read() as session:
        return len(
            session.scalars(
                select(AuditEvent).where(AuditEvent.action == "misuse.acknowledged")
            ).all()
        )


def test_bad_input_gets_a_clear_4xx_and_changes_nothing(store: Store, clock: Clock) -> None:
    leak(store, clock)
    (alert,) = found(store)
    priya = add_person(store, "priya", "privacy_officer")
    client, csrf = officer_client(store, priya)
    ack = f"/audit/alerts/{alert.id}/acknowledge"
    cases: list[tuple[str, dict[str, str], int, str]] = [
        (f"/audit/alerts/{new_id()}/acknowledge", {"csrf_token": csrf}, 404, "no such alert"),
        ("/audit/alerts/not-an-id/acknowledge", {"csrf_token": csrf}, 422, "pattern"),
        (ack, {"csrf_token": csrf, "note": "x" * 2001}, 422, "2000"),
        (ack, {"note": "no token"}, 403, "reload the page"),
    ]
    for path, data, status, message in cases:
        response = client.post(path, data=data, follow_redirects=False)
        assert response.status_code == status, (path, response.text[:300])
        assert message in response.text
    assert client.get("/audit/alerts?show=sometimes").status_code == 422
    assert acknowledgements(store) == 0
    client.post(ack, data={"csrf_token": csrf})
    twice = client.post(ack, data={"csrf_token": csrf, "note": "again"}, follow_redirects=False)
    assert twice.status_code == 409 and "already acknowledged" in twice.text
    assert acknowledgements(store) == 1
    with store.db.read() as session:
        row = session.get(MisuseAlert, alert.id)
        assert row is not None and row.acknowledgement_note is None


def test_nobody_acknowledges_an_alert_about_themselves(store: Store, clock: Clock) -> None:
    with_policy(store, working_hours_roles=["privacy_officer"])
    priya = add_person(store, "priya", "privacy_officer")
    append(
        store,
        clock,
        T0.replace(hour=23),
        f"staff:{priya.id}",
        "staff.signed_in",
        f"staff:{priya.id}",
    )
    (alert,) = found(store, now=T0 + timedelta(days=1))
    client, csrf = officer_client(store, priya)
    assert 'action="/audit/alerts/' not in client.get("/audit/alerts").text
    refused = client.post(
        f"/audit/alerts/{alert.id}/acknowledge", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert refused.status_code == 403 and "another privacy officer" in refused.text
    assert acknowledgements(store) == 0


@pytest.mark.parametrize("role", [r for r in STAFF_ROLES if r != "privacy_officer"])
def test_only_privacy_officers_see_the_alerts(store: Store, clock: Clock, role: str) -> None:
    leak(store, clock)
    (alert,) = found(store)
    who = add_person(store, f"p-{role.replace('_', '-')}", role)
    client, csrf = officer_client(store, who)
    page = client.get("/audit/alerts", follow_redirects=False)
    assert page.status_code == 403 and alert.summary not in page.text
    refused = client.post(
        f"/audit/alerts/{alert.id}/acknowledge", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert acknowledgements(store) == 0
    anonymous = TestClient(create_app(store=store), base_url="https://testserver")
    assert anonymous.get("/audit/alerts", follow_redirects=False).status_code == 303


# The policy section.


@pytest.mark.parametrize(
    ("misuse", "message"),
    [
        ({"working_hours": "7-20"}, "HH:MM-HH:MM"),
        ({"working_hours": "08:00-08:00"}, "must not start and end at the same time"),
        ({"working_hours": "08:00-25:00"}, "HH:MM-HH:MM"),
        ({"time_zone": "Mars/Olympus"}, "not a time zone"),
        ({"locale_time_zones": {"de-DE": "Berlin"}}, "not a time zone"),
        ({"working_hours_roles": ["boss"]}, "annotator"),
        ({"max_plays_per_lease": 0}, "greater than or equal to 1"),
        ({"max_plays_per_lease": "20"}, "valid integer"),
        ({"reidentification_window_hours": float("inf")}, "finite"),
        ({"scan_minuets": 5}, "Extra inputs"),
    ],
)
def test_the_misuse_policy_is_checked_strictly(misuse: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Policy.model_validate({"misuse": misuse})


def test_the_policys_roles_are_the_staff_roles() -> None:
    from typing import get_args

    assert get_args(StaffRole) == STAFF_ROLES
    assert set(REVIEWER_ROLES) <= set(STAFF_ROLES)
    assert Policy().misuse.working_hours_roles == ["annotator", "qa_reviewer"]
