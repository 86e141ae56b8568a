"""No admin can become a listener: two admins to grant access, the person to enrol.

Every account, every credential reset and every role change starts as one admin's
proposal and takes effect only when a different admin approves it. Approval then
splits what the new person needs between the two: the proposer gets the one-use
enrolment link, the approver a short approval code, and the link works only with the
code. The person sets their own password and scans their own TOTP secret; no admin
ever sees either, so neither admin alone can make, or take over, an account that
hears audio or opens the vault.

Only hashes of links and codes are kept. Someone with a copy of the database could
still guess a code offline (it is short, to be read aloud), but a code enrols nobody
without its link, whose 256-bit token exists only as a hash.
The one exception to the two-admin rule is the very first admin: with no active admin
yet, the operator holding the workspace enrols one from the command line.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from earmuff.audit.log import record
from earmuff.store.crypto import KeyRing
from earmuff.store.models import (
    STAFF_ROLES,
    StaffEnrolment,
    StaffProposal,
    StaffSession,
    StaffUser,
    new_id,
)
from earmuff.store.staff import (
    USERNAME,
    StaffError,
    check_password,
    create_staff,
    parse_locales,
    revoke_credentials,
    seal_secret,
    set_credentials,
    unseal_secret,
)

PROPOSAL_LIFETIME = timedelta(hours=72)
ENROLMENT_LIFETIME = timedelta(hours=72)
MAX_WRONG_CODES = 5
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I: the code is read aloud or copied by hand from one person to another."""
CODE_LENGTH = 8
ENROLMENTS = "staff_enrolments"


class EnrolmentGone(StaffError):
    """The link is unknown, expired, used, replaced or burned: nothing can be done with it.

    ``known``: the link was real once (used, expired, burned), as opposed to never valid."""

    def __init__(self, message: str, known: bool = True) -> None:
        super().__init__(message)
        self.known = known


class WrongApprovalCode(StaffError):
    """The approval code does not match; ``burned`` when that was the last try allowed."""

    def __init__(self, message: str, burned: bool) -> None:
        super().__init__(message, "approval_code")
        self.burned = burned


@dataclass(frozen=True)
class Approved:
    """What the approver is shown once: the code, for a proposal that enrols someone."""

    proposal: StaffProposal
    approval_code: str | None


@dataclass(frozen=True)
class EnrolmentLink:
    """What the proposer is shown once: the path of the link, and when it stops working."""

    token: str
    expires_at: datetime

    @property
    def path(self) -> str:
        return f"/enrol/{self.token}"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _code_hash(enrolment_id: str, code: str) -> str:
    return _hash(f"{enrolment_id}:{normalise_code(code)}")


def normalise_code(code: str) -> str:
    """What people type: any case, with spaces or a dash in the middle."""
    return code.strip().upper().replace(" ", "").replace("-", "")


def _active_admin(session: Session, staff_id: str) -> StaffUser:
    user = session.get(StaffUser, staff_id)
    if user is None or not user.active or user.role != "admin":
        raise StaffError("only an active admin may do this")
    return user


def _role(role: str) -> str:
    if role not in STAFF_ROLES:
        raise StaffError(f"role must be one of {', '.join(STAFF_ROLES)}", "role")
    return role


def _audit_subject(proposal: StaffProposal) -> str:
    return f"staff:{proposal.staff_id}" if proposal.staff_id else f"staff-proposal:{proposal.id}"


def _proposal_details(proposal: StaffProposal) -> dict[str, object]:
    details: dict[str, object] = {"proposal": proposal.id, "kind": proposal.kind}
    if proposal.username:
        details["username"] = proposal.username
    if proposal.role:
        details["role"] = proposal.role
    return details


def _open_proposals(session: Session, now: datetime) -> list[StaffProposal]:
    """Pending proposals not yet expired, and approved ones whose enrolment is still due."""
    pending = session.scalars(
        select(StaffProposal).where(
            StaffProposal.status == "pending", StaffProposal.expires_at > now
        )
    ).all()
    waiting = session.scalars(
        select(StaffProposal)
        .join(StaffEnrolment, StaffEnrolment.proposal_id == StaffProposal.id)
        .where(
            StaffProposal.status == "approved",
            StaffEnrolment.used_at.is_(None),
            StaffEnrolment.burned_at.is_(None),
            StaffEnrolment.expires_at > now,
        )
    ).all()
    return [*pending, *waiting]


def _username_free(session: Session, username: str, now: datetime) -> None:
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)):
        raise StaffError(f"the username {username!r} is taken", "username")
    if any(p.kind == "create" and p.username == username for p in _open_proposals(session, now)):
        raise StaffError(f"an account named {username!r} is already proposed", "username")


def _propose(session: Session, proposal: StaffProposal, by: StaffUser) -> StaffProposal:
    session.add(proposal)
    session.flush()
    record(
        session,
        f"staff:{by.id}",
        "staff.proposed",
        _audit_subject(proposal),
        _proposal_details(proposal),
    )
    return proposal


def propose_account(
    session: Session,
    by_id: str,
    username: str,
    role: str,
    now: datetime,
    locales: str = "",
    safety_pool: bool = False,
) -> StaffProposal:
    """A new account, of any role, for a second admin to approve."""
    by = _active_admin(session, by_id)
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise StaffError("a username is 2-64 letters, digits, '.', '_' or '-'", "username")
    _username_free(session, username, now)
    proposal = StaffProposal(
        id=new_id(),
        kind="create",
        username=username,
        role=_role(role),
        locales=parse_locales(locales),
        safety_pool=safety_pool,
        proposed_by_id=by.id,
        proposed_at=now,
        expires_at=now + PROPOSAL_LIFETIME,
        status="pending",
    )
    return _propose(session, proposal, by)


def _about(session: Session, by: StaffUser, staff_id: str, kind: str, now: datetime) -> StaffUser:
    target = session.get(StaffUser, staff_id)
    if target is None:
        raise StaffError("no such staff account")
    if target.id == by.id:
        raise StaffError("you cannot propose a change to your own account")
    if any(p.kind == kind and p.staff_id == target.id for p in _open_proposals(session, now)):
        raise StaffError(f"a {kind} for {target.username} is already waiting")
    return target


def propose_reset(session: Session, by_id: str, staff_id: str, now: datetime) -> StaffProposal:
    """New sign-in credentials for someone: both factors, through a fresh enrolment.

    A reset always renews both the password and the second factor. One factor is
    reset because it was lost or may be known to someone else; the enrolment already
    proves two admins and the person, so renewing both costs the person one more
    field and leaves no path where a link sets one factor beside a doubtful other.
    """
    by = _active_admin(session, by_id)
    target = _about(session, by, staff_id, "reset", now)
    proposal = StaffProposal(
        id=new_id(),
        kind="reset",
        staff_id=target.id,
        username=target.username,
        role=target.role,
        locales=target.locales,
        safety_pool=target.safety_pool,
        proposed_by_id=by.id,
        proposed_at=now,
        expires_at=now + PROPOSAL_LIFETIME,
        status="pending",
    )
    return _propose(session, proposal, by)


def propose_role(
    session: Session,
    by_id: str,
    staff_id: str,
    role: str,
    now: datetime,
    locales: str | None = None,
    safety_pool: bool | None = None,
) -> StaffProposal:
    """A different role for someone; locales and safety pool travel with it, so the
    approver sees and approves the whole of what the person will be able to do."""
    by = _active_admin(session, by_id)
    target = _about(session, by, staff_id, "role", now)
    if _role(role) == target.role:
        raise StaffError(f"{target.username} already is {role}", "role")
    proposal = StaffProposal(
        id=new_id(),
        kind="role",
        staff_id=target.id,
        username=target.username,
        role=role,
        locales=parse_locales(locales) if locales is not None else target.locales,
        safety_pool=target.safety_pool if safety_pool is None else safety_pool,
        proposed_by_id=by.id,
        proposed_at=now,
        expires_at=now + PROPOSAL_LIFETIME,
        status="pending",
    )
    return _propose(session, proposal, by)


def _pending(session: Session, proposal_id: str, now: datetime) -> StaffProposal:
    proposal = session.get(StaffProposal, proposal_id, with_for_update=True)
    if proposal is None:
        raise StaffError("no such proposal")
    if proposal.status != "pending":
        raise StaffError(f"this proposal was already {proposal.status}")
    if proposal.expires_at <= now:
        raise StaffError("this proposal expired: propose it again")
    return proposal


def approve(
    session: Session, keyring: KeyRing, proposal_id: str, by_id: str, now: datetime
) -> Approved:
    """A second admin's yes. A role change takes effect here; an account or a reset
    gets its enrolment, whose approval code is returned for the approver only.

    A reset revokes the old password and second factor here, at approval, not when the
    person enrols: a reset is asked for because a factor was lost or may be known to
    someone else, and that someone must not keep signing in while the link waits.
    Not at proposal either, or one admin alone could lock anyone out.
    """
    by = _active_admin(session, by_id)
    proposal = _pending(session, proposal_id, now)
    if proposal.proposed_by_id == by.id:
        raise StaffError("a proposal needs a different admin's approval")
    proposal.status, proposal.decided_by_id, proposal.decided_at = "approved", by.id, now
    record(
        session,
        f"staff:{by.id}",
        "staff.approved",
        _audit_subject(proposal),
        _proposal_details(proposal),
    )
    if proposal.kind == "role":
        target = session.get(StaffUser, proposal.staff_id)
        if target is None:
            raise StaffError("no such staff account")
        before = target.role
        target.role = _role(proposal.role or "")
        target.locales, target.safety_pool = proposal.locales, proposal.safety_pool
        _end_sessions(session, target.id)
        record(
            session,
            f"staff:{by.id}",
            "staff.role_changed",
            f"staff:{target.id}",
            {"proposal": proposal.id, "from": before, "to": target.role},
        )
        return Approved(proposal, None)
    if proposal.kind == "reset":
        target = session.get(StaffUser, proposal.staff_id)
        if target is None:
            raise StaffError("no such staff account")
        revoke_credentials(target)
        _end_sessions(session, target.id)
        _retire_enrolments(session, target.id, now)
        record(
            session,
            f"staff:{by.id}",
            "staff.credentials_reset",
            f"staff:{target.id}",
            {"proposal": proposal.id},
        )
    _, code = _new_enrolment(session, keyring, proposal, now)
    return Approved(proposal, code)


def refuse(session: Session, proposal_id: str, by_id: str, now: datetime) -> StaffProposal:
    """Another admin's no. (The proposer withdraws with :func:`cancel` instead.)"""
    by = _active_admin(session, by_id)
    proposal = _pending(session, proposal_id, now)
    if proposal.proposed_by_id == by.id:
        raise StaffError("cancel your own proposal instead of refusing it")
    proposal.status, proposal.decided_by_id, proposal.decided_at = "refused", by.id, now
    record(
        session,
        f"staff:{by.id}",
        "staff.refused",
        _audit_subject(proposal),
        _proposal_details(proposal),
    )
    return proposal


def cancel(session: Session, proposal_id: str, by_id: str, now: datetime) -> StaffProposal:
    """The proposer withdraws a proposal nobody decided yet."""
    by = _active_admin(session, by_id)
    proposal = _pending(session, proposal_id, now)
    if proposal.proposed_by_id != by.id:
        raise StaffError("only the admin who proposed it may cancel it; refuse it instead")
    proposal.status, proposal.decided_by_id, proposal.decided_at = "cancelled", by.id, now
    record(
        session,
        f"staff:{by.id}",
        "staff.proposal_cancelled",
        _audit_subject(proposal),
        _proposal_details(proposal),
    )
    return proposal


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _new_enrolment(
    session: Session,
    keyring: KeyRing,
    proposal: StaffProposal | None,
    now: datetime,
    **account: object,
) -> tuple[StaffEnrolment, str]:
    """The enrolment for ``proposal`` (or, without one, for ``account``'s fields), and
    its approval code. Its lifetime runs from now and issuing the link later
    does not extend it, so a link can never be kept alive by asking for it again."""
    enrolment_id = new_id()
    code = _new_code()
    fields: dict[str, object] = (
        {
            "kind": "create" if proposal.kind == "create" else "reset",
            "staff_id": proposal.staff_id,
            "username": proposal.username,
            "role": proposal.role,
            "locales": proposal.locales,
            "safety_pool": proposal.safety_pool,
        }
        if proposal is not None
        else account
    )
    enrolment = StaffEnrolment(
        id=enrolment_id,
        proposal_id=proposal.id if proposal is not None else None,
        code_hash=_code_hash(enrolment_id, code),
        totp_secret_sealed=seal_secret(keyring, ENROLMENTS, enrolment_id, pyotp.random_base32()),
        failed_codes=0,
        created_at=now,
        expires_at=now + ENROLMENT_LIFETIME,
        **fields,
    )
    session.add(enrolment)
    session.flush()
    return enrolment, code


def _retire_enrolments(session: Session, staff_id: str, now: datetime) -> None:
    """An older, unused link for the same person stops working when a new one is made."""
    for old in session.scalars(
        select(StaffEnrolment).where(
            StaffEnrolment.staff_id == staff_id,
            StaffEnrolment.used_at.is_(None),
            StaffEnrolment.burned_at.is_(None),
        )
    ):
        old.burned_at = now


def _end_sessions(session: Session, staff_id: str) -> None:
    session.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))


def issue_link(session: Session, proposal_id: str, by_id: str, now: datetime) -> EnrolmentLink:
    """The link, for the proposer only, after approval. Asking again replaces the link
    (the old one stops working): only its hash is kept, so it cannot be shown twice."""
    by = _active_admin(session, by_id)
    proposal = session.get(StaffProposal, proposal_id)
    if proposal is None or proposal.status != "approved":
        raise StaffError("the link exists only for an approved proposal")
    if proposal.proposed_by_id != by.id:
        raise StaffError("only the admin who proposed it receives the link")
    enrolment = session.scalar(
        select(StaffEnrolment).where(StaffEnrolment.proposal_id == proposal.id)
    )
    if enrolment is None or enrolment.used_at is not None or enrolment.burned_at is not None:
        raise StaffError("this enrolment is over: propose it again")
    if enrolment.expires_at <= now:
        raise StaffError("this enrolment expired: propose it again")
    return _issue(session, enrolment, f"staff:{by.id}")


def _issue(session: Session, enrolment: StaffEnrolment, actor: str) -> EnrolmentLink:
    token = secrets.token_urlsafe(32)
    enrolment.token_hash = _hash(token)
    record(
        session,
        actor,
        "staff.enrolment_issued",
        f"staff:{enrolment.staff_id}" if enrolment.staff_id else f"staff-enrolment:{enrolment.id}",
        {"enrolment": enrolment.id, "username": enrolment.username, "role": enrolment.role},
    )
    return EnrolmentLink(token=token, expires_at=enrolment.expires_at)


def has_active_admin(session: Session) -> bool:
    return (
        session.scalar(
            select(StaffUser.id).where(StaffUser.role == "admin", StaffUser.active.is_(True))
        )
        is not None
    )


def bootstrap_admin(
    session: Session, keyring: KeyRing, username: str, now: datetime, locales: str = ""
) -> tuple[EnrolmentLink, str]:
    """The first admin's enrolment, for the operator who holds the workspace: the link
    and its code together, as there is no second admin yet to hold the code. Refused
    as soon as any active admin exists."""
    if has_active_admin(session):
        raise StaffError("an admin exists: new accounts need two admins (use --as)")
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise StaffError("a username is 2-64 letters, digits, '.', '_' or '-'", "username")
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)):
        raise StaffError(f"the username {username!r} is taken", "username")
    for earlier in session.scalars(
        select(StaffEnrolment).where(
            StaffEnrolment.proposal_id.is_(None),
            StaffEnrolment.used_at.is_(None),
            StaffEnrolment.burned_at.is_(None),
        )
    ):
        earlier.burned_at = now
    enrolment, code = _new_enrolment(
        session,
        keyring,
        None,
        now,
        kind="create",
        staff_id=None,
        username=username,
        role="admin",
        locales=parse_locales(locales),
        safety_pool=False,
    )
    record(
        session,
        "cli",
        "staff.proposed",
        f"staff-enrolment:{enrolment.id}",
        {"kind": "create", "username": username, "role": "admin", "bootstrap": True},
    )
    return _issue(session, enrolment, "cli"), code


def open_enrolment(
    session: Session, token: str, now: datetime, lock: bool = False
) -> StaffEnrolment:
    """The enrolment a link names, if it can still be used; else :class:`EnrolmentGone`.

    ``lock`` (in a write transaction): two tries at once, on PostgreSQL, take turns, so
    wrong codes are all counted and a link cannot be spent twice."""
    if not token or len(token) > 128:
        raise EnrolmentGone("this enrolment link is not valid", known=False)
    query = select(StaffEnrolment).where(StaffEnrolment.token_hash == _hash(token))
    enrolment = session.scalar(query.with_for_update() if lock else query)
    if enrolment is None:
        raise EnrolmentGone(
            "this enrolment link is not valid (or was replaced by a newer one)", known=False
        )
    if enrolment.used_at is not None:
        raise EnrolmentGone("this enrolment link was already used")
    if enrolment.burned_at is not None:
        raise EnrolmentGone("this enrolment link no longer works: ask for a new one")
    if enrolment.expires_at <= now:
        raise EnrolmentGone("this enrolment link expired: ask for a new one")
    return enrolment


def check_approval_code(
    session: Session, enrolment: StaffEnrolment, code: str, now: datetime
) -> None:
    """The approver's code; each wrong one counts, and the last allowed burns the link.

    The caller must commit even when this raises, or the count would not stick."""
    if secrets.compare_digest(_code_hash(enrolment.id, code), enrolment.code_hash):
        return
    enrolment.failed_codes += 1
    subject = f"staff-enrolment:{enrolment.id}"
    record(
        session,
        "enrolment",
        "staff.enrolment_code_failed",
        subject,
        {"tries": enrolment.failed_codes},
    )
    if enrolment.failed_codes >= MAX_WRONG_CODES:
        enrolment.burned_at = now
        record(session, "enrolment", "staff.enrolment_burned", subject, {})
        raise WrongApprovalCode("wrong approval code: this link no longer works", burned=True)
    left = MAX_WRONG_CODES - enrolment.failed_codes
    raise WrongApprovalCode(f"wrong approval code ({left} tries left)", burned=False)


def enrolment_secret(keyring: KeyRing, enrolment: StaffEnrolment) -> str:
    """For the QR code, shown only once the approval code was right."""
    return unseal_secret(keyring, ENROLMENTS, enrolment.id, enrolment.totp_secret_sealed)


def complete(
    session: Session,
    keyring: KeyRing,
    enrolment: StaffEnrolment,
    password: str,
    password_again: str,
    code: str,
    now: datetime,
) -> StaffUser:
    """The person's own password and a current code from the authenticator they just
    set up; the account is created (or its credentials replaced) and the link is spent.

    The approval code is checked by the caller first (:func:`check_approval_code`)."""
    if password != password_again:
        raise StaffError("the two passwords differ", "password")
    check_password(password)
    secret = enrolment_secret(keyring, enrolment)
    totp = pyotp.TOTP(secret)
    typed = code.strip().replace(" ", "")
    step = int(now.timestamp()) // totp.interval
    matched = next(
        (
            s
            for s in (step, step - 1, step + 1)
            if secrets.compare_digest(totp.generate_otp(s), typed)
        ),
        None,
    )
    if matched is None:
        raise StaffError("that code does not match: check the authenticator's clock", "code")
    if enrolment.proposal_id is None and has_active_admin(session):
        raise EnrolmentGone("an admin exists already: this first-admin link no longer works")
    if enrolment.kind == "create":
        user = create_staff(
            session,
            keyring,
            enrolment.username,
            enrolment.role,
            locales=enrolment.locales,
            safety_pool=enrolment.safety_pool,
            password=password,
        ).user
    else:
        found = session.get(StaffUser, enrolment.staff_id)
        if found is None:
            raise EnrolmentGone("the account this link was for no longer exists")
        user = found
    set_credentials(keyring, user, password, secret)
    user.totp_last_step = matched
    _end_sessions(session, user.id)
    enrolment.used_at = now
    enrolment.staff_id = user.id
    record(
        session,
        f"staff:{user.id}",
        "staff.enrolled",
        f"staff:{user.id}",
        {"enrolment": enrolment.id, "kind": enrolment.kind, "role": user.role},
    )
    return user


@dataclass(frozen=True)
class ProposalView:
    """A proposal as the admin page lists it."""

    id: str
    kind: str
    username: str
    role: str | None
    proposed_by: str
    proposed_by_id: str
    proposed_at: datetime
    expires_at: datetime
    status: str
    link_due: bool
    """Approved, and its enrolment is still waiting for the person."""


def open_proposals(session: Session, now: datetime) -> list[ProposalView]:
    """What the admin page shows: proposals to decide, and approved ones still to enrol."""
    names = {
        row.id: row.username for row in session.execute(select(StaffUser.id, StaffUser.username))
    }
    views = [
        ProposalView(
            id=p.id,
            kind=p.kind,
            username=p.username or "",
            role=p.role,
            proposed_by=names.get(p.proposed_by_id, "?"),
            proposed_by_id=p.proposed_by_id,
            proposed_at=p.proposed_at,
            expires_at=p.expires_at,
            status=p.status,
            link_due=p.status == "approved",
        )
        for p in _open_proposals(session, now)
    ]
    return sorted(views, key=lambda view: view.proposed_at)
