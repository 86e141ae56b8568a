"""Misuse noticed: rules over the audit trail that ask a privacy officer to look.

The audit log proves what happened, but nobody reads every line of it. Each rule here
reads one pattern of misuse out of the log and the rows it names (leases, annotations,
second listens, safety cases) and reports it as an :class:`Alert`. :func:`scan` runs
every rule, keeps each alert once (``misuse_alerts`` is unique on rule and key, so a
run that finds it again raises nothing), audits the raising (``misuse.alert``) and
logs it; a privacy officer acknowledges it on ``/audit/alerts`` (``misuse.acknowledged``).

A rule is a small class behind :class:`MisuseRule`, as Presidio's recognizers are: a
name, a description and ``find(session, since, now)``. :data:`RULES` lists them; a new
rule plugs in by joining that list (or the ``rules`` given to :func:`scan`), and the
engine does not change. Every threshold is in the policy's ``misuse`` section.

A rule reports misuse whose deciding event happened in ``[since, now)``; it may read
older rows for context (the lease a stream ran under). Counting rules count within
fixed windows (a lease, a reviewer's day, a re-identification window) and name the
window in the alert's key, so overlapping runs agree on what they found.
"""

from __future__ import annotations

import hashlib
import logging
import re
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from earmuff.audio.span import wav_duration
from earmuff.audit.log import record
from earmuff.audit.marks import STREAMED
from earmuff.config.policy import MisusePolicy
from earmuff.store import Store
from earmuff.store.blobs import BlobStore
from earmuff.store.crypto import CryptoError, KeyRing
from earmuff.store.models import (
    Annotation,
    AuditEvent,
    LeaseGrant,
    MisuseAlert,
    ReviewItem,
    SafetyCase,
    SecondListen,
    StaffUser,
    new_id,
    utcnow,
)
from earmuff.store.review_items import read_review_audio

log = logging.getLogger(__name__)

RAISED = "misuse.alert"
ACKNOWLEDGED = "misuse.acknowledged"
ACTOR = "misuse"
LEAK_TRACED = "audit.leak_traced"
REIDENTIFICATION_REQUESTED = "reidentification.requested"
GRANTS = ("lease", "second_listen", "safety_case")
"""What an ``audio.streamed`` event names as the reason its listener could hear it."""
GRACE = timedelta(seconds=30)
"""A stream is audited a moment after its grant was checked (the audio is decoded and
marked in between): a lease that ended within this margin was still held."""
WINDOW_ANCHOR = datetime(2001, 1, 1, tzinfo=UTC)
"""A Monday at midnight: windows of whole days or weeks start at midnight or on Mondays."""
MAX_KEY = 200
MAX_STAFF_ID = 32
ADVISORY_LOCK = 7342002
"""Serialises concurrent scans on PostgreSQL (server processes, ``earmuff audit scan``),
so two of them never raise one alert twice; SQLite's write lock does this there."""


@dataclass(frozen=True)
class Alert:
    """One finding of a rule. ``key`` names what was seen (a lease, a reviewer's day),
    so the same finding from a later run is recognised and not raised again."""

    rule: str
    key: str
    staff_id: str | None
    observed_at: datetime
    summary: str
    details: dict[str, Any] = field(default_factory=dict)


AudioSeconds = Callable[[Session, str], float | None]


@dataclass(frozen=True)
class RuleContext:
    """What every rule is built with: the thresholds, and the items' exact durations."""

    policy: MisusePolicy
    audio_seconds: AudioSeconds


class MisuseRule(ABC):
    """A pattern of misuse in the audit trail. Subclasses set ``name`` (stable: it keys
    stored alerts) and ``description`` (for the officer), and implement :meth:`find`."""

    name: ClassVar[str]
    description: ClassVar[str]

    def __init__(self, context: RuleContext) -> None:
        self.context = context
        self.policy = context.policy

    @abstractmethod
    def find(self, session: Session, since: datetime, now: datetime) -> list[Alert]:
        """Every instance of the pattern whose deciding event lies in ``[since, now)``."""

    def alert(
        self,
        key: str,
        staff_id: str | None,
        observed_at: datetime,
        summary: str,
        **details: Any,
    ) -> Alert:
        return Alert(self.name, key, staff_id, observed_at, summary, details)


def _events(session: Session, action: str, since: datetime, now: datetime) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.action == action,
                AuditEvent.occurred_at >= since,
                AuditEvent.occurred_at < now,
            )
            .order_by(AuditEvent.seq)
        )
    )


def _staff_of_actor(actor: str) -> str | None:
    return actor.removeprefix("staff:") if actor.startswith("staff:") else None


def _grant_of(details: dict[str, Any]) -> tuple[str, str] | None:
    """The first of lease, second listen or safety case that the stream names."""
    for kind in GRANTS:
        value = details.get(kind)
        if isinstance(value, str) and value:
            return kind, value
    return None


def _window_start(at: datetime, length: timedelta) -> datetime:
    return WINDOW_ANCHOR + ((at - WINDOW_ANCHOR) // length) * length


class RepeatedPlays(MisuseRule):
    """Counts one listener's streams under one grant: transcribing a few seconds takes
    a handful of plays, so many more look like someone recording the audio."""

    name = "repeated_plays"
    description = "One item played far more often than its task needs."

    def find(self, session: Session, since: datetime, now: datetime) -> list[Alert]:
        plays: dict[tuple[str, str, str], list[AuditEvent]] = defaultdict(list)
        for event in _events(session, STREAMED, since, now):
            grant = _grant_of(event.details)
            staff = event.details.get("staff")
            if grant is not None and isinstance(staff, str):
                plays[(*grant, staff)].append(event)
        found = []
        for (kind, grant_id, staff), events in plays.items():
            limit = (
                self.policy.max_plays_per_case
                if kind == "safety_case"
                else self.policy.max_plays_per_lease
            )
            if len(events) <= limit:
                continue
            item = events[0].details.get("item")
            of_item = f" of item {item}" if item else ""
            found.append(
                self.alert(
                    f"{kind}:{grant_id}:{staff}",
                    staff,
                    events[limit].occurred_at,
                    f"{len(events)} plays{of_item} under {kind.replace('_', ' ')} {grant_id}"
                    f" (the policy allows {limit})",
                    plays=len(events),
                    limit=limit,
                    item=item,
                    **{kind: grant_id},
                )
            )
        return found


def bucket_bounds(label: str) -> tuple[float, float | None]:
    """The shortest and longest audio a duration bucket (``<2s``, ``2-5s``, ``>30s``)
    holds; an unknown label bounds nothing."""
    if match := re.fullmatch(r"<(\d+(?:\.\d+)?)s", label):
        return 0.0, float(match.group(1))
    if match := re.fullmatch(r"(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)s", label):
        return float(match.group(1)), float(match.group(2))
    if match := re.fullmatch(r">(\d+(?:\.\d+)?)s", label):
        return float(match.group(1)), None
    return 0.0, None


class FastSubmissions(MisuseRule):
    """A submission made in less time than its audio lasts was made without hearing it.

    The item's duration bucket settles most cases without touching audio: a reviewer
    who took less than the bucket's shortest audio was too fast, one who took longer
    than its longest was not. Only in between is the exact duration read from the
    item's audio; once the audio is gone (retention, deletion) the reviewer gets the
    benefit of the doubt. One fast submission is a slip: the alert needs
    ``fast_submissions_per_day`` of them by one reviewer in one UTC day.
    """

    name = "fast_submissions"
    description = "A reviewer submitting faster than the audio lasts, repeatedly."

    def find(self, session: Session, since: datetime, now: datetime) -> list[Alert]:
        rows = session.execute(
            select(
                Annotation.staff_id,
                Annotation.review_item_id,
                Annotation.started_at,
                Annotation.submitted_at,
                ReviewItem.duration_bucket,
            )
            .join(ReviewItem, ReviewItem.id == Annotation.review_item_id)
            .where(
                Annotation.outcome == "submitted",
                Annotation.submitted_at >= since,
                Annotation.submitted_at < now,
            )
            .order_by(Annotation.submitted_at)
        ).all()
        fast: dict[tuple[str, date], list[tuple[datetime, str, float, float]]] = defaultdict(list)
        for row in rows:
            took = (row.submitted_at - row.started_at).total_seconds()
            lasts = self._lasts_longer(session, row.review_item_id, row.duration_bucket, took)
            if lasts is not None:
                day = row.submitted_at.astimezone(UTC).date()
                fast[(row.staff_id, day)].append(
                    (row.submitted_at, row.review_item_id, took, lasts)
                )
        needed = self.policy.fast_submissions_per_day
        found = []
        for (staff, day), submissions in fast.items():
            if len(submissions) < needed:
                continue
            _, item, took, lasts = submissions[0]
            found.append(
                self.alert(
                    f"{staff}:{day.isoformat()}",
                    staff,
                    submissions[needed - 1][0],
                    f"{len(submissions)} submissions faster than their audio on {day} (UTC), "
                    f"e.g. item {item} in {took:.1f} s for {lasts:.1f} s of audio",
                    submissions=len(submissions),
                    day=day.isoformat(),
                    items=[entry[1] for entry in submissions],
                )
            )
        return found

    def _lasts_longer(
        self, session: Session, item_id: str, bucket: str, took: float
    ) -> float | None:
        """The audio's length (or its sure minimum) when it exceeds ``took``; else None."""
        shortest, longest = bucket_bounds(bucket)
        if took < shortest:
            return shortest
        if longest is not None and took >= longest:
            return None
        exact = self.context.audio_seconds(session, item_id)
        return exact if exact is not None and took < exact else None


class UnleasedAudio(MisuseRule):
    """Cross-checks every stream against what allowed it, from the other side.

    The routes refuse audio without a live lease, an open second-listen request or a
    safety officer's case; a stream whose event does not match those rows means the
    check was bypassed (a bug, a patched server, a forged request that got through).
    A lease's end is known from its rows: the holder's annotation or skip, the task
    given to someone else, or the holder given another task (one lease at a time). A
    lapse that nobody followed up leaves no row, so a stream after it is not caught
    here; the routes' own check stands there.
    """

    name = "unleased_audio"
    description = "Audio fetched for an item its listener did not hold."

    def find(self, session: Session, since: datetime, now: datetime) -> list[Alert]:
        self._ends: dict[str, datetime | None] = {}
        found = []
        for event in _events(session, STREAMED, since, now):
            problem = self._problem(session, event)
            if problem is None:
                continue
            staff = event.details.get("staff")
            found.append(
                self.alert(
                    event.subject,
                    staff if isinstance(staff, str) else _staff_of_actor(event.actor),
                    event.occurred_at,
                    f"audio streamed at {event.occurred_at:%Y-%m-%d %H:%M:%S} UTC: {problem}",
                    event=event.seq,
                    item=event.details.get("item"),
                    **{kind: event.details.get(kind) for kind in GRANTS if event.details.get(kind)},
                )
            )
        return found

    def _problem(self, session: Session, event: AuditEvent) -> str | None:
        details = event.details
        staff = details.get("staff")
        if not isinstance(staff, str) or event.actor != f"staff:{staff}":
            return "the stream names no listener, or another one than who fetched it"
        item = details.get("item")
        grant = _grant_of(details)
        if grant is None:
            return "the stream names no lease, second listen or safety case"
        kind, grant_id = grant
        at = event.occurred_at
        if kind == "lease":
            return self._lease_problem(session, grant_id, staff, item, at)
        if kind == "second_listen":
            return self._listen_problem(session, grant_id, staff, at)
        return self._case_problem(session, grant_id, details.get("role"), item, at)

    def _lease_problem(
        self, session: Session, lease_id: str, staff: str, item: object, at: datetime
    ) -> str | None:
        grant = session.get(LeaseGrant, lease_id)
        if grant is None:
            return f"no lease {lease_id} was ever granted"
        if grant.staff_id != staff:
            return f"lease {lease_id} was granted to someone else"
        if item is not None and item != grant.review_item_id:
            return f"lease {lease_id} is for another item than {item}"
        if at < grant.granted_at - GRACE:
            return f"lease {lease_id} was granted only at {grant.granted_at:%H:%M:%S}"
        if lease_id not in self._ends:
            self._ends[lease_id] = _lease_ended(session, grant)
        ended = self._ends[lease_id]
        if ended is not None and at > ended + GRACE:
            return f"lease {lease_id} had ended at {ended:%Y-%m-%d %H:%M:%S}"
        return None

    def _listen_problem(
        self, session: Session, request_id: str, staff: str, at: datetime
    ) -> str | None:
        request = session.get(SecondListen, request_id)
        if request is None:
            return f"no second listen {request_id} was ever asked for"
        if request.requested_by_id == staff:
            return f"the asker of second listen {request_id} heard it through the listeners' route"
        if at < request.created_at - GRACE:
            return f"second listen {request_id} was asked for only later"
        if request.answered_at is not None and at > request.answered_at + GRACE:
            return f"second listen {request_id} had been answered"
        return None

    def _case_problem(
        self, session: Session, case_id: str, role: object, item: object, at: datetime
    ) -> str | None:
        case = session.get(SafetyCase, case_id)
        if case is None:
            return f"no safety case {case_id} exists"
        if role != "safety_officer":
            return f"a {role} heard safety case {case_id}; only safety officers may"
        if item is not None and case.review_item_id not in (None, item):
            return f"safety case {case_id} is about another item than {item}"
        if at < case.opened_at - GRACE:
            return f"safety case {case_id} was opened only later"
        return None


def _lease_ended(session: Session, grant: LeaseGrant) -> datetime | None:
    """The earliest sign in the database that a lease was over, if any. Each look-up
    names the item as well as the task, so it runs on the item's index."""
    after = grant.granted_at
    ends = [
        session.scalar(
            select(func.min(Annotation.submitted_at)).where(
                Annotation.review_item_id == grant.review_item_id,
                Annotation.staff_id == grant.staff_id,
                Annotation.task_id == grant.task_id,
                Annotation.submitted_at >= after,
            )
        ),
        session.scalar(
            select(func.min(LeaseGrant.granted_at)).where(
                LeaseGrant.review_item_id == grant.review_item_id,
                LeaseGrant.task_id == grant.task_id,
                LeaseGrant.lease_id != grant.lease_id,
                LeaseGrant.granted_at > after,
            )
        ),
        session.scalar(
            select(func.min(LeaseGrant.granted_at)).where(
                LeaseGrant.staff_id == grant.staff_id,
                LeaseGrant.lease_id != grant.lease_id,
                LeaseGrant.granted_at > after,
            )
        ),
    ]
    known = [end for end in ends if end is not None]
    return min(known) if known else None


@dataclass(frozen=True)
class WorkingHours:
    """``HH:MM-HH:MM`` as minutes of the day; a start after the end spans midnight."""

    start: int
    end: int

    @classmethod
    def parse(cls, hours: str) -> WorkingHours:
        start, end = (
            int(h) * 60 + int(m) for h, m in (part.split(":") for part in hours.split("-"))
        )
        return cls(start, end)

    def allows(self, local: datetime) -> bool:
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end


class OutOfHours(MisuseRule):
    """Work by a reviewer outside the working hours, in their own time zone.

    Counted are the events a reviewer appended themselves (sign-ins, streams, second
    listens, stops), never failed sign-ins in their name, which anyone can cause. One
    alert per reviewer per local day, however many events.
    """

    name = "out_of_hours"
    description = "A reviewer working outside the working hours."

    def find(self, session: Session, since: datetime, now: datetime) -> list[Alert]:
        hours = WorkingHours.parse(self.policy.working_hours)
        events = session.scalars(
            select(AuditEvent)
            .where(
                AuditEvent.occurred_at >= since,
                AuditEvent.occurred_at < now,
                AuditEvent.actor.startswith("staff:"),
            )
            .order_by(AuditEvent.seq)
        ).all()
        ids = {event.actor.removeprefix("staff:") for event in events}
        staff = {
            user.id: user
            for user in session.scalars(select(StaffUser).where(StaffUser.id.in_(ids)))
            if user.role in self.policy.working_hours_roles
        }
        outside: dict[tuple[str, date], list[tuple[AuditEvent, datetime]]] = defaultdict(list)
        for event in events:
            user = staff.get(event.actor.removeprefix("staff:"))
            if user is None:
                continue
            local = event.occurred_at.astimezone(self._zone_of(user))
            if not hours.allows(local):
                outside[(user.id, local.date())].append((event, local))
        found = []
        for (staff_id, day), seen in outside.items():
            first, local = seen[0]
            zone = self._zone_of(staff[staff_id])
            found.append(
                self.alert(
                    f"{staff_id}:{day.isoformat()}",
                    staff_id,
                    first.occurred_at,
                    f"{len(seen)} action(s) outside working hours {self.policy.working_hours} "
                    f"({zone}) on {day}, the first ({first.action}) at {local:%H:%M}",
                    events=len(seen),
                    day=day.isoformat(),
                    time_zone=str(zone),
                    actions=sorted({event.action for event, _ in seen}),
                )
            )
        return found

    def _zone_of(self, user: StaffUser) -> tzinfo:
        for locale in user.locales.split(","):
            zone = self.policy.locale_time_zones.get(locale.strip())
            if zone is not None:
                return ZoneInfo(zone)
        return ZoneInfo(self.policy.time_zone)


class ManyReidentifications(MisuseRule):
    """Re-identification is the one door back to a household: a safety officer who asks
    for it often is either facing a crisis or fishing, and either way someone should
    know. Requests are counted per officer in fixed windows of
    ``reidentification_window_hours`` (from midnight, or Monday for whole weeks)."""

    name = "many_reidentifications"
    description = "An unusual number of re-identification requests by one safety officer."

    def find(self, session: Session, since: datetime, now: datetime) -> list[Alert]:
        length = timedelta(hours=self.policy.reidentification_window_hours)
        limit = self.policy.reidentifications_per_window
        windows: dict[tuple[str, datetime], list[AuditEvent]] = defaultdict(list)
        for event in _events(
            session, REIDENTIFICATION_REQUESTED, _window_start(since, length), now
        ):
            staff = _staff_of_actor(event.actor)
            if staff is not None:
                windows[(staff, _window_start(event.occurred_at, length))].append(event)
        found = []
        for (staff, start), events in windows.items():
            if len(events) <= limit or events[limit].occurred_at < since:
                continue
            found.append(
                self.alert(
                    f"{staff}:{start.isoformat()}",
                    staff,
                    events[limit].occurred_at,
                    f"{len(events)} re-identification requests between "
                    f"{start:%Y-%m-%d %H:%M} and {start + length:%Y-%m-%d %H:%M} UTC "
                    f"(the policy allows {limit})",
                    requests=len(events),
                    limit=limit,
                    window_start=start.isoformat(),
                    subjects=[event.subject for event in events],
                )
            )
        return found


class LeakTraced(MisuseRule):
    """A leaked copy whose watermark was read names the stream it came from; the alert
    names that stream's listener, so the trace is followed up, not just filed."""

    name = "leak_traced"
    description = "A leaked copy whose watermark names a listener."

    def find(self, session: Session, since: datetime, now: datetime) -> list[Alert]:
        found = []
        for event in _events(session, LEAK_TRACED, since, now):
            if event.details.get("found") is not True:
                continue
            stream = session.scalar(
                select(AuditEvent).where(
                    AuditEvent.subject == event.subject, AuditEvent.action == STREAMED
                )
            )
            if stream is None:
                found.append(
                    self.alert(
                        event.subject,
                        None,
                        event.occurred_at,
                        f"a leaked copy carries {event.subject}, which no stream of this log has",
                        trace=event.seq,
                    )
                )
                continue
            details = stream.details
            staff = details.get("staff")
            grant = _grant_of(details)
            under = f" under {grant[0].replace('_', ' ')} {grant[1]}" if grant else ""
            found.append(
                self.alert(
                    event.subject,
                    staff if isinstance(staff, str) else None,
                    event.occurred_at,
                    f"a leaked copy was streamed to staff {staff} ({details.get('role')}){under}, "
                    f"item {details.get('item')}, at {stream.occurred_at:%Y-%m-%d %H:%M:%S} UTC",
                    trace=event.seq,
                    stream=stream.seq,
                    role=details.get("role"),
                    item=details.get("item"),
                    streamed_at=stream.occurred_at.isoformat(),
                )
            )
        return found


RULES: list[type[MisuseRule]] = [
    RepeatedPlays,
    FastSubmissions,
    UnleasedAudio,
    OutOfHours,
    ManyReidentifications,
    LeakTraced,
]
"""Every rule :func:`scan` runs by default, in the order their alerts are raised."""


class ItemAudio:
    """Exact durations of items' audio, read from the sealed blobs once per scan.

    Only the header's frame count is used; the audio is opened in memory and dropped.
    An item whose audio is gone has no duration, never a guessed one.
    """

    def __init__(self, keyring: KeyRing, blobs: BlobStore) -> None:
        self._keyring = keyring
        self._blobs = blobs
        self._seconds: dict[str, float | None] = {}

    def __call__(self, session: Session, item_id: str) -> float | None:
        if item_id not in self._seconds:
            self._seconds[item_id] = self._read(session, item_id)
        return self._seconds[item_id]

    def _read(self, session: Session, item_id: str) -> float | None:
        item = session.get(ReviewItem, item_id)
        if item is None:
            return None
        try:
            return wav_duration(read_review_audio(self._keyring, self._blobs, item))
        except (LookupError, CryptoError, RuntimeError):
            return None


def scan(
    store: Store,
    since: datetime,
    now: datetime,
    rules: Sequence[type[MisuseRule]] = RULES,
) -> list[MisuseAlert]:
    """Run ``rules`` over ``[since, now)`` and raise what none of the earlier runs did;
    the alerts raised now.

    A rule that fails is logged and skipped: the others' findings still count, and the
    next run tries it again.
    """
    context = RuleContext(store.settings.policy.misuse, ItemAudio(store.keyring, store.blobs))
    found: dict[tuple[str, str], Alert] = {}
    with store.db.read() as session:
        for rule_class in rules:
            rule = rule_class(context)
            try:
                alerts = rule.find(session, since, now)
            except Exception:
                log.exception("misuse rule %s failed; the other rules ran", rule.name)
                continue
            for alert in alerts:
                found.setdefault((alert.rule, _stored_key(alert.key)), alert)
    if not found:
        return []
    raised = _raise_new(store, found)
    for row in raised:
        log.warning("misuse alert %s (%s): %s", row.id, row.rule, row.summary)
    return raised


def _stored_key(key: str) -> str:
    """Keys come from the log's details: one too long to store is stored as its hash."""
    if len(key) <= MAX_KEY:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _raise_new(store: Store, found: dict[tuple[str, str], Alert]) -> list[MisuseAlert]:
    with store.db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            session.execute(text(f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK})"))
        keys = {key for _, key in found}
        known = {
            (row.rule, row.key)
            for row in session.execute(
                select(MisuseAlert.rule, MisuseAlert.key).where(MisuseAlert.key.in_(keys))
            )
        }
        raised = []
        for (rule, key), alert in found.items():
            if (rule, key) in known:
                continue
            staff = (
                alert.staff_id if alert.staff_id and len(alert.staff_id) <= MAX_STAFF_ID else None
            )
            row = MisuseAlert(
                id=new_id(),
                rule=rule,
                key=key,
                staff_id=staff,
                summary=alert.summary,
                details=alert.details,
                observed_at=alert.observed_at,
                raised_at=utcnow(),
            )
            session.add(row)
            session.flush()
            record(
                session,
                ACTOR,
                RAISED,
                f"misuse_alert:{row.id}",
                {"rule": rule, "key": key, "staff": staff},
            )
            raised.append(row)
        return raised


class AlertError(Exception):
    """An acknowledgement that cannot be made; ``status`` is its HTTP status."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


MAX_NOTE = 2000


def acknowledge(
    session: Session, alert_id: str, officer: StaffUser, note: str, now: datetime
) -> MisuseAlert:
    """Mark an alert as looked at, with the officer's note; audited.

    Nobody acknowledges an alert about themselves: that would let the person an alert
    names make it go away.
    """
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise AlertError("note_too_long", f"a note is at most {MAX_NOTE} characters", 422)
    alert = session.get(MisuseAlert, alert_id, with_for_update=True)
    if alert is None:
        raise AlertError("not_found", "no such alert", 404)
    if alert.acknowledged_at is not None:
        raise AlertError("already_acknowledged", "this alert was already acknowledged", 409)
    if alert.staff_id == officer.id:
        raise AlertError(
            "own_alert", "an alert about you is acknowledged by another privacy officer", 403
        )
    alert.acknowledged_at = now
    alert.acknowledged_by_id = officer.id
    alert.acknowledgement_note = note or None
    session.flush()
    record(
        session,
        f"staff:{officer.id}",
        ACKNOWLEDGED,
        f"misuse_alert:{alert.id}",
        {"rule": alert.rule, "staff": alert.staff_id},
    )
    return alert


def alerts(session: Session, include_acknowledged: bool, limit: int = 200) -> list[MisuseAlert]:
    """The newest alerts, the open ones only unless asked for all."""
    query = select(MisuseAlert).order_by(MisuseAlert.raised_at.desc(), MisuseAlert.id).limit(limit)
    if not include_acknowledged:
        query = query.where(MisuseAlert.acknowledged_at.is_(None))
    return list(session.scalars(query))


def open_count(session: Session) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(MisuseAlert)
            .where(MisuseAlert.acknowledged_at.is_(None))
        )
        or 0
    )


def descriptions(rules: Iterable[type[MisuseRule]] = RULES) -> dict[str, str]:
    """Rule name to what it looks for, for the officer's page."""
    return {rule.name: rule.description for rule in rules}


def periodic_scan(store: Store) -> str:
    """One run of the server's timer: the policy's look-back up to now."""
    now = utcnow()
    raised = scan(store, now - timedelta(hours=store.settings.policy.misuse.lookback_hours), now)
    return f"{len(raised)} new misuse alert(s)"
