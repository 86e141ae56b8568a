"""Re-identification by two people: a safety officer asks, a privacy officer decides.

The safety procedure can require finding the household behind a review item (someone
may be in danger). That is the one path from a review item back to a person, so no
single person can take it: the asker names the item, the reason and the fields they
need; a different person, a privacy officer, approves or refuses; an approval opens
just those fields, once, before a deadline. Every step is audited, and the household
sees it on its transparency page, unless a legal hold defers that to a stated date.

Nothing else opens the vault: ``store.vault.reveal`` takes an approved request and
checks it again against the database (tests/review/test_reidentify.py proves there is
no other caller).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.audit.log import record
from earmuff.store.accounts import first_name
from earmuff.store.crypto import KeyRing
from earmuff.store.models import (
    REIDENTIFICATION_FIELDS,
    Account,
    Device,
    Recording,
    ReidentificationRequest,
    ReviewItem,
    StaffUser,
    VaultEntry,
    utcnow,
)
from earmuff.store.vault import VaultSealed, account_tag, reveal

ASKER_ROLE = "safety_officer"
DECIDER_ROLE = "privacy_officer"
MAX_REASON = 2000
OPEN_FOR = timedelta(hours=24)
MAX_OPEN_FOR = timedelta(hours=72)
MAX_DEFERRAL = timedelta(days=366)
FIELD_LABELS = {
    "account_number": "account number",
    "first_name": "first name",
    "device_serial": "device serial",
    "locale": "language setting",
    "captured_at": "time of the recording",
}


class ReidentificationError(ValueError):
    """The request cannot be made or decided as asked; the message says why."""


class ReidentificationForbidden(PermissionError):
    """This person may not take this step (wrong role, own request, not theirs)."""


@dataclass(frozen=True)
class Opened:
    """What an approved request opened: the named fields and nothing else."""

    request_id: str
    review_item_id: str
    fields: dict[str, str]


def _active(person: StaffUser, role: str, what: str) -> None:
    if not person.active or person.role != role:
        raise ReidentificationForbidden(f"only an active {role.replace('_', ' ')} may {what}")


def _text(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise ReidentificationError(f"a {what} is required")
    if len(value) > MAX_REASON:
        raise ReidentificationError(f"the {what} is longer than {MAX_REASON} characters")
    return value


def parse_fields(fields: str | list[str] | tuple[str, ...]) -> list[str]:
    """The requested fields, known and without repeats, in the canonical order."""
    names = fields.split(",") if isinstance(fields, str) else list(fields)
    chosen = {name.strip() for name in names if name.strip()}
    unknown = chosen - set(REIDENTIFICATION_FIELDS)
    if unknown:
        raise ReidentificationError(
            f"unknown field(s) {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(REIDENTIFICATION_FIELDS)}"
        )
    if not chosen:
        raise ReidentificationError("name at least one field that is needed")
    return [name for name in REIDENTIFICATION_FIELDS if name in chosen]


def request_reidentification(
    session: Session,
    keyring: KeyRing,
    asker: StaffUser,
    review_item_id: str,
    reason: str,
    fields: str | list[str],
    now: datetime | None = None,
) -> ReidentificationRequest:
    """A safety officer asks; nothing is opened until someone else approves."""
    _active(asker, ASKER_ROLE, "ask to re-identify a review item")
    reason = _text(reason, "reason")
    chosen = parse_fields(fields)
    entry = session.get(VaultEntry, review_item_id.strip())
    if entry is None or session.get(ReviewItem, entry.review_item_id) is None:
        raise ReidentificationError("no review item with that id has a link to a household")
    request = ReidentificationRequest(
        review_item_id=entry.review_item_id,
        account_tag=entry.account_tag,
        requested_by_id=asker.id,
        requested_at=now or utcnow(),
        reason=reason,
        fields=chosen,
        status="pending",
    )
    session.add(request)
    session.flush()
    record(
        session,
        f"staff:{asker.id}",
        "reidentification.requested",
        f"reidentification:{request.id}",
        {"item": entry.review_item_id, "fields": chosen},
    )
    return request


def _pending(session: Session, request_id: str) -> ReidentificationRequest:
    request = session.get(ReidentificationRequest, request_id.strip())
    if request is None:
        raise ReidentificationError("no such re-identification request")
    if request.status != "pending":
        raise ReidentificationError(f"this request is already {request.status}")
    return request


def approve(
    session: Session,
    keyring: KeyRing,
    decider: StaffUser,
    request_id: str,
    note: str,
    open_for: timedelta = OPEN_FOR,
    disclose_after: datetime | None = None,
    now: datetime | None = None,
) -> ReidentificationRequest:
    """A privacy officer other than the asker approves; the fields open for ``open_for``.

    ``disclose_after`` defers telling the household, and only while its account is on
    legal hold: the hold is what makes silence lawful, and the date says until when.
    """
    _active(decider, DECIDER_ROLE, "approve a re-identification")
    request = _pending(session, request_id)
    if request.requested_by_id == decider.id:
        raise ReidentificationForbidden("the person who asked cannot approve their own request")
    note = _text(note, "note on the decision")
    now = now or utcnow()
    if not timedelta(minutes=5) <= open_for <= MAX_OPEN_FOR:
        raise ReidentificationError("an approval opens the fields for 5 minutes to 72 hours")
    if disclose_after is not None:
        if disclose_after.tzinfo is None:
            raise ReidentificationError("the deferral date needs a time zone")
        if not now < disclose_after <= now + MAX_DEFERRAL:
            raise ReidentificationError("a deferral ends in the future, within a year")
        if not _on_legal_hold(session, keyring, request.account_tag):
            raise ReidentificationError(
                "telling the household can be deferred only while its account is on legal hold"
            )
    request.status = "approved"
    request.decided_by_id, request.decided_at = decider.id, now
    request.decision_note = note
    request.open_until = now + open_for
    request.disclose_after = disclose_after
    record(
        session,
        f"staff:{decider.id}",
        "reidentification.approved",
        f"reidentification:{request.id}",
        {
            "fields": request.fields,
            "open_until": request.open_until.isoformat(),
            "household_told_after": disclose_after.isoformat() if disclose_after else None,
        },
    )
    return request


def refuse(
    session: Session, decider: StaffUser, request_id: str, note: str, now: datetime | None = None
) -> ReidentificationRequest:
    _active(decider, DECIDER_ROLE, "refuse a re-identification")
    request = _pending(session, request_id)
    if request.requested_by_id == decider.id:
        raise ReidentificationForbidden("the person who asked cannot decide their own request")
    request.status = "refused"
    request.decided_by_id, request.decided_at = decider.id, now or utcnow()
    request.decision_note = _text(note, "note on the decision")
    record(
        session,
        f"staff:{decider.id}",
        "reidentification.refused",
        f"reidentification:{request.id}",
        {},
    )
    return request


def withdraw(
    session: Session, asker: StaffUser, request_id: str, now: datetime | None = None
) -> ReidentificationRequest:
    """The asker takes back a request nobody has decided yet."""
    request = _pending(session, request_id)
    if request.requested_by_id != asker.id:
        raise ReidentificationForbidden("only the person who asked can withdraw the request")
    request.status = "withdrawn"
    request.decided_at = now or utcnow()
    record(
        session,
        f"staff:{asker.id}",
        "reidentification.withdrawn",
        f"reidentification:{request.id}",
        {},
    )
    return request


def open_fields(
    session: Session,
    keyring: KeyRing,
    asker: StaffUser,
    request_id: str,
    now: datetime | None = None,
) -> Opened:
    """Open the approved fields, once, for the person who asked; audited first."""
    _active(asker, ASKER_ROLE, "open a re-identification")
    request = session.get(ReidentificationRequest, request_id.strip())
    if request is None:
        raise ReidentificationError("no such re-identification request")
    if request.requested_by_id != asker.id:
        raise ReidentificationForbidden("only the person who asked may open what was approved")
    now = now or utcnow()
    try:
        recording_id = reveal(session, keyring, request, now)
    except VaultSealed as exc:
        raise ReidentificationError(str(exc)) from None
    recording = session.get(Recording, recording_id) if recording_id else None
    if recording is None:
        raise ReidentificationError("the recording behind this item has been deleted")
    account = session.get(Account, recording.account_id)
    device = session.get(Device, recording.device_id)
    values = {
        "account_number": account.external_id if account else "(deleted)",
        "first_name": (first_name(session, keyring, account) if account else None) or "(none)",
        "device_serial": device.serial if device else "(deleted)",
        "locale": recording.locale,
        "captured_at": recording.captured_at.isoformat(),
    }
    record(
        session,
        f"staff:{asker.id}",
        "reidentification.opened",
        f"reidentification:{request.id}",
        {"fields": request.fields},
    )
    return Opened(
        request_id=request.id,
        review_item_id=request.review_item_id,
        fields={name: values[name] for name in request.fields},
    )


def _on_legal_hold(session: Session, keyring: KeyRing, tag: str | None) -> bool:
    if tag is None:
        return False
    held = session.scalars(select(Account.id).where(Account.legal_hold_reason.is_not(None)))
    return any(account_tag(keyring, account_id) == tag for account_id in held)


def state(request: ReidentificationRequest, now: datetime) -> str:
    """The request's state as people read it: an unopened approval past its deadline
    has ``expired``."""
    if request.status == "approved" and request.open_until and request.open_until <= now:
        return "expired"
    return request.status


@dataclass(frozen=True)
class Notice:
    """What the household is told: when, why in general terms, what was opened."""

    requested_at: datetime
    state: str
    fields: list[str]
    decided_at: datetime | None
    opened_at: datetime | None


def notices_for_account(
    session: Session, keyring: KeyRing, account_id: str, now: datetime
) -> list[Notice]:
    """Every request about the account's recordings that the household may see now."""
    rows = session.scalars(
        select(ReidentificationRequest)
        .where(ReidentificationRequest.account_tag == account_tag(keyring, account_id))
        .order_by(ReidentificationRequest.requested_at.desc())
    )
    return [
        Notice(
            requested_at=row.requested_at,
            state=state(row, now),
            fields=[FIELD_LABELS[name] for name in row.fields],
            decided_at=row.decided_at,
            opened_at=row.opened_at,
        )
        for row in rows
        if row.disclose_after is None or row.disclose_after <= now
    ]


def requests_for(
    session: Session, person: StaffUser, now: datetime
) -> list[ReidentificationRequest]:
    """What a person's page lists: a safety officer's own requests; every request for a
    privacy officer, pending first."""
    query = select(ReidentificationRequest).order_by(
        (ReidentificationRequest.status != "pending"),
        ReidentificationRequest.requested_at.desc(),
    )
    if person.role == ASKER_ROLE:
        query = query.where(ReidentificationRequest.requested_by_id == person.id)
    elif person.role != DECIDER_ROLE:
        return []
    return list(session.scalars(query.limit(200)))
