"""The database schema. Alembic migrations in ``store/migrations`` create exactly this.

Personal data that earmuff must be able to forget (an owner's first name, a TOTP secret)
is stored encrypted, so destroying a key forgets it everywhere, backups included.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def new_id() -> str:
    """A random 128-bit id in hex: unguessable, and it says nothing about its subject."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps are always timezone-aware UTC, whatever the database keeps.

    SQLite has no time zones and hands back naive datetimes; comparing those with aware
    ones raises, so every value is normalised on the way in and out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Account(Base):
    """A household's account with the voice-assistant company."""

    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    external_id: Mapped[str] = mapped_column(String(128), unique=True)
    first_name_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    is_child_profile: Mapped[bool] = mapped_column(Boolean, default=False)
    raw_retention: Mapped[str] = mapped_column(String(16), default="policy")
    legal_hold_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]

    devices: Mapped[list[Device]] = relationship(back_populates="account")


class AccountKey(Base):
    """The account's data key, wrapped by the master key. NULL once destroyed."""

    __tablename__ = "account_keys"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    destroyed_at: Mapped[datetime | None]


class Device(Base):
    """A device that may upload. A revoked device keeps its row (its recordings point at
    it), so only one *active* device may hold a serial: a revoked serial can be re-added."""

    __tablename__ = "devices"
    __table_args__ = (
        Index(
            "ux_devices_active_serial",
            "serial",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
            sqlite_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    serial: Mapped[str] = mapped_column(String(128))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    is_child_profile: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]

    account: Mapped[Account] = relationship(back_populates="devices")


class Recording(Base):
    """One utterance a device sent. Its audio lives encrypted in the blob store."""

    __tablename__ = "recordings"
    __table_args__ = (UniqueConstraint("device_id", "device_recording_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    device_recording_id: Mapped[str | None] = mapped_column(String(128))
    captured_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    locale: Mapped[str] = mapped_column(String(35))
    wake_word: Mapped[str] = mapped_column(String(64))
    wake_confidence: Mapped[float | None] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float)
    sample_rate: Mapped[int] = mapped_column(Integer)
    channels_received: Mapped[int] = mapped_column(Integer)
    source_format: Mapped[str] = mapped_column(String(8))
    blob_key: Mapped[str | None] = mapped_column(String(200))
    key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The recording's own data key, sealed under the account key. Clearing it deletes the
    audio and everything derived from it, in every backup, without touching the account."""
    status: Mapped[str] = mapped_column(String(16), default="stored")
    retention_until: Mapped[datetime | None] = mapped_column(index=True)
    sampled_at: Mapped[datetime | None] = mapped_column(index=True)
    """Set once when the sampler picks the recording; counts against the account's cap."""

    stages: Mapped[list[RecordingStage]] = relationship(
        back_populates="recording", cascade="all, delete-orphan"
    )


class RecordingStage(Base):
    """The outcome of one pipeline stage for one recording: what lets a crash resume."""

    __tablename__ = "recording_stages"

    recording_id: Mapped[str] = mapped_column(ForeignKey("recordings.id"), primary_key=True)
    stage: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    recording: Mapped[Recording] = relationship(back_populates="stages")


class IdempotencyRecord(Base):
    """The first answer to a request, replayed to every retry with the same key."""

    __tablename__ = "idempotency_records"

    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentSetting(Base):
    """An account's current choice about human review."""

    __tablename__ = "consent_settings"

    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), primary_key=True)
    human_review: Mapped[str] = mapped_column(String(16), default="unset")
    disclosure_version: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsentChange(Base):
    """Every consent change ever made, kept so an owner and a regulator can see the history."""

    __tablename__ = "consent_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    human_review: Mapped[str] = mapped_column(String(16))
    disclosure_version: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    disclosure_sha256: Mapped[str | None] = mapped_column(String(64))
    """The exact text shown (``disclosure_texts``): a version's wording carries policy
    figures, so the version alone would not prove what the owner read."""


class ReviewItem(Base):
    """What a reviewer receives. Nothing here names the account, device or speaker."""

    __tablename__ = "review_items"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    locale: Mapped[str] = mapped_column(String(35))
    duration_bucket: Mapped[str] = mapped_column(String(16))
    policy_version: Mapped[str] = mapped_column(String(64))
    model_versions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    audio_blob_key: Mapped[str | None] = mapped_column(String(200))
    """What the reviewer is served, whatever it is (see ``served``); None for no audio."""
    purpose: Mapped[str] = mapped_column(String(32), default="transcription")
    """The task the item is made for (``transcription``, ``intent``, ...): it decides
    whether a reviewer needs the speaker's voice at all."""
    served: Mapped[str] = mapped_column(String(32), default="anonymized_recording")
    """``anonymized_recording``, ``synthetic_voice`` or ``no_audio``, fixed when the
    item is made, so the workbench label and the owner's account of what the reviewer
    heard follow the item, not whatever the policy says later."""
    key_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    """The item's own data key, sealed under the review-items key (derived from the master
    key): no account key is needed, so opening an item reveals nothing about its owner."""
    transcript_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    sensitive_category: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    expires_at: Mapped[datetime | None] = mapped_column(index=True)


class VaultEntry(Base):
    """The only link from a review item back to its recording, sealed under the vault key."""

    __tablename__ = "vault_entries"

    review_item_id: Mapped[str] = mapped_column(ForeignKey("review_items.id"), primary_key=True)
    recording_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    account_tag: Mapped[str | None] = mapped_column(String(64), index=True)
    recording_tag: Mapped[str | None] = mapped_column(String(64), index=True)
    """Keyed blind indexes (HMACs under a vault-derived key) of the account and the
    recording: an account's items can be found for withdrawal or deletion without
    opening every entry, and without the key the tags say nothing about either."""


STAFF_ROLES = ("annotator", "qa_reviewer", "safety_officer", "privacy_officer", "admin")


class StaffUser(Base):
    """A reviewer, officer or administrator. Each holds exactly one role."""

    __tablename__ = "staff_users"
    __table_args__ = (CheckConstraint(f"role IN {STAFF_ROLES!r}", name="role_known"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    role: Mapped[str] = mapped_column(String(32))
    locales: Mapped[str] = mapped_column(String(255), default="")
    safety_pool: Mapped[bool] = mapped_column(Boolean, default=False)
    second_listener: Mapped[bool] = mapped_column(Boolean, default=False)
    """Opted in to answer colleagues' second-listen requests in the locales they cover."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    """The last TOTP time step accepted: a code is good for one sign-in only."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEvent(Base):
    """One entry of the hash-chained audit log; each hash covers the one before it."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    """The event's position in the chain, from 1: what a signed checkpoint counts. Ids
    may skip (a sequence value is spent by a rolled-back append); positions do not."""
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class StaffSession(Base):
    """A signed-in staff member. The cookie holds a random token; only its hash is kept,
    so a copy of the database cannot be replayed as a session."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[str] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    stage: Mapped[str] = mapped_column(String(16))
    """``password``: the password was right, the one-time code is still due; ``active``."""
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]


class ReviewTask(Base):
    """One reviewer's turn at a review item, and the lease that gives it to them.

    An ordinary item has one task; an overlap item has several (``slot`` 0..k-1), each
    for a different reviewer; a gold task is made on demand when a reviewer is shown a
    gold item. At most one lease per task: the lease id changes on every hand-out, so a
    reviewer whose lease expired cannot submit over the next holder's work.
    """

    __tablename__ = "review_tasks"
    __table_args__ = (
        UniqueConstraint("review_item_id", "slot"),
        Index(
            "ix_review_tasks_open",
            "pool",
            "locale",
            "available_at",
            postgresql_where=text("status IN ('queued', 'leased')"),
            sqlite_where=text("status IN ('queued', 'leased')"),
        ),
        Index(
            "ix_review_tasks_lapsing",
            "lease_expires_at",
            postgresql_where=text("status = 'leased'"),
            sqlite_where=text("status = 'leased'"),
        ),
        Index(
            "ux_review_tasks_one_lease",
            "lease_holder_id",
            unique=True,
            postgresql_where=text("status = 'leased'"),
            sqlite_where=text("status = 'leased'"),
        ),
    )
    """The queue's indexes cover only the rows each question is about (open tasks by
    pool, locale and age; leases by expiry), so they stay small however much finished
    work the table holds. The unique one is a rule: one leased task per reviewer."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    review_item_id: Mapped[str] = mapped_column(
        ForeignKey("review_items.id", ondelete="CASCADE"), index=True
    )
    slot: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16), default="single")
    """``single``, ``overlap`` (one of k) or ``gold`` (graded against a known answer)."""
    pool: Mapped[str] = mapped_column(String(16), default="general")
    """``general``, or ``safety``: only reviewers who opted into the safety pool."""
    locale: Mapped[str] = mapped_column(String(35))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    """``queued``, ``leased``, ``done``, or ``withdrawn`` (pulled, escalated, deleted)."""
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    lease_holder_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id"))
    lease_expires_at: Mapped[datetime | None]
    completed_by_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id"))
    completed_at: Mapped[datetime | None]


class LeaseGrant(Base):
    """Every hand-out of a task: who was given which item, from which pool, and when.

    A lease that lapses unanswered leaves no annotation, yet its holder heard the item:
    the per-shift cap on sensitive items and the choice of an unseen gold item both
    count hand-outs, not submissions.
    """

    __tablename__ = "lease_grants"
    __table_args__ = (Index("ix_lease_grants_staff", "staff_id", "granted_at"),)

    lease_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    task_id: Mapped[str] = mapped_column(ForeignKey("review_tasks.id", ondelete="CASCADE"))
    review_item_id: Mapped[str] = mapped_column(
        ForeignKey("review_items.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    pool: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime]


class Annotation(Base):
    """What one reviewer made of one item: a submission, or a skip with its reason.

    The corrected transcript is sealed under the item's own key, so it dies with the
    item (retention, deletion) even in backups and in free pages of the database file.
    """

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_item_staff", "review_item_id", "staff_id"),)
    """Answers "has this reviewer done this item?", which every hand-out asks."""

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    task_id: Mapped[str] = mapped_column(ForeignKey("review_tasks.id", ondelete="CASCADE"))
    review_item_id: Mapped[str] = mapped_column(ForeignKey("review_items.id", ondelete="CASCADE"))
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"), index=True)
    staff_role: Mapped[str] = mapped_column(String(32))
    """The role, kept apart from the person, is what an owner is told about a review."""
    outcome: Mapped[str] = mapped_column(String(16))
    """``submitted`` or ``skipped``."""
    transcript_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    intent: Mapped[str | None] = mapped_column(String(64))
    slots: Mapped[dict[str, Any]] = mapped_column(default=dict)
    flags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """Flag name to its detail: ``{"sensitive": "self_harm", "pii_leak": true}``."""
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    gold_wer: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime]
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)


class GoldAnswer(Base):
    """The known answer of a gold item, set by a QA reviewer from a checked annotation."""

    __tablename__ = "gold_answers"

    review_item_id: Mapped[str] = mapped_column(
        ForeignKey("review_items.id", ondelete="CASCADE"), primary_key=True
    )
    transcript_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    intent: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SecondListen(Base):
    """A reviewer's request that a colleague hear one span of an item, and the answer."""

    __tablename__ = "second_listens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    review_item_id: Mapped[str] = mapped_column(
        ForeignKey("review_items.id", ondelete="CASCADE"), index=True
    )
    locale: Mapped[str] = mapped_column(String(35))
    start_s: Mapped[float] = mapped_column(Float)
    end_s: Mapped[float] = mapped_column(Float)
    requested_by_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    """``open``, ``answered`` or ``withdrawn`` (the item is gone)."""
    answered_by_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id"))
    suggestion_sealed: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]


SAFETY_STATES = ("open", "triaged", "action_decided", "closed")


class SafetyCase(Base):
    """An escalation: content that someone must act on, with a clock running.

    The case outlives a deleted item (``review_item_id`` becomes NULL) so the record of
    what was decided stays; the item's audio does not.
    """

    __tablename__ = "safety_cases"
    __table_args__ = (CheckConstraint(f"state IN {SAFETY_STATES!r}", name="state_known"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    review_item_id: Mapped[str | None] = mapped_column(
        ForeignKey("review_items.id", ondelete="SET NULL"), index=True
    )
    reason: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    action: Mapped[str | None] = mapped_column(String(64))
    opened_by_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    sla_due_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]

    events: Mapped[list[SafetyCaseEvent]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="SafetyCaseEvent.id"
    )


class SafetyCaseEvent(Base):
    """One step of a case, with the note its state machine requires."""

    __tablename__ = "safety_case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(
        ForeignKey("safety_cases.id", ondelete="CASCADE"), index=True
    )
    staff_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    case: Mapped[SafetyCase] = relationship(back_populates="events")


class DisclosureText(Base):
    """Every wording of the review disclosure ever shown to an owner, by its hash."""

    __tablename__ = "disclosure_texts"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    first_shown_at: Mapped[datetime] = mapped_column(default=utcnow)


class OwnerLoginLink(Base):
    """A single-use, short-lived sign-in link for an account's owner; only its hash is kept."""

    __tablename__ = "owner_login_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]


class OwnerSession(Base):
    """A signed-in owner. The cookie holds a random token; only its hash is kept."""

    __tablename__ = "owner_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class DeletionRequest(Base):
    """A deletion asked for by an owner or made by retention, and its receipt.

    It holds counts and times, never content: it outlives what it deleted so the owner
    can show what was erased, when, and check the receipt's hash against the audit log.
    """

    __tablename__ = "deletion_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    scope: Mapped[str] = mapped_column(String(16))
    """``recording``, ``range``, ``everything`` or ``retention``."""
    source: Mapped[str] = mapped_column(String(32))
    recording_id: Mapped[str | None] = mapped_column(String(32))
    range_start: Mapped[datetime | None]
    range_end: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    """``done``, or ``held``: waiting for a legal hold on the account to be released."""
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    receipt_sha256: Mapped[str | None] = mapped_column(String(64))


class LegalHold(Base):
    """A privacy officer's hold on an account: while it lasts, nothing of it is deleted.

    ``accounts.legal_hold_reason`` is the flag everything checks; these rows are the
    history of who set and released each hold, and why.
    """

    __tablename__ = "legal_holds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    set_by_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_by_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id"))
    released_at: Mapped[datetime | None]
    release_note: Mapped[str | None] = mapped_column(Text)


class ReviewRecord(Base):
    """What the owner is still told about a review once its copy is gone.

    Sealed under the account key (times, roles, labels alike), so the table cannot be
    joined by time against the workbench's rows to tie an account to a review item,
    and it dies with the recording or the account key.
    """

    __tablename__ = "review_history"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id"), index=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    record_sealed: Mapped[bytes] = mapped_column(LargeBinary)


REIDENTIFICATION_FIELDS = ("account_number", "first_name", "device_serial", "locale", "captured_at")
"""What an approved re-identification can open, one field at a time: the company's
account number (how its support team reaches the household), the owner's first name,
the device that recorded, the recording's locale and its capture time."""
REIDENTIFICATION_STATES = ("pending", "approved", "refused", "opened", "withdrawn")


class ReidentificationRequest(Base):
    """A safety officer's request to learn who is behind one review item.

    Nothing opens the vault but an approved request: a different privacy officer
    decides, the approval names the fields and a deadline, and it opens them once.
    ``account_tag`` is the vault's blind index of the household, copied when the
    request is made so the household still sees it after the item itself is gone.
    """

    __tablename__ = "reidentification_requests"
    __table_args__ = (
        CheckConstraint(f"status IN {REIDENTIFICATION_STATES!r}", name="status_known"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    review_item_id: Mapped[str] = mapped_column(String(32), index=True)
    account_tag: Mapped[str | None] = mapped_column(String(64), index=True)
    requested_by_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    reason: Mapped[str] = mapped_column(Text)
    fields: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str | None] = mapped_column(Text)
    open_until: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    disclose_after: Mapped[datetime | None]
    """Set under a legal hold: the household is told of the request only after this."""


STAFF_PROPOSAL_KINDS = ("create", "reset", "role")
STAFF_PROPOSAL_STATES = ("pending", "approved", "refused", "cancelled")
STAFF_ENROLMENT_KINDS = ("create", "reset")


class StaffProposal(Base):
    """One admin's proposal to add a staff member, reset their sign-in or change their
    role; nothing happens until a different admin approves it.

    A proposal past ``expires_at`` that nobody decided counts as expired: it can no
    longer be approved, so an old forgotten proposal cannot be waved through later.
    """

    __tablename__ = "staff_proposals"
    __table_args__ = (
        CheckConstraint(f"kind IN {STAFF_PROPOSAL_KINDS!r}", name="kind_known"),
        CheckConstraint(f"status IN {STAFF_PROPOSAL_STATES!r}", name="status_known"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    """The existing person a reset or role change is about; empty for a new account."""
    username: Mapped[str | None] = mapped_column(String(64))
    role: Mapped[str | None] = mapped_column(String(32))
    locales: Mapped[str] = mapped_column(String(255), default="")
    safety_pool: Mapped[bool] = mapped_column(Boolean, default=False)
    proposed_by_id: Mapped[str] = mapped_column(ForeignKey("staff_users.id"))
    proposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    decided_by_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None]


class StaffEnrolment(Base):
    """A one-use link with which a person sets their own password and second factor.

    Only hashes of the link's token and of the approval code are kept, and the code's
    hash is keyed by the enrolment, so neither can be read back from the database. The
    TOTP secret is chosen when the enrolment is made (the QR code must show the same
    secret until the person confirms it) and sealed like a staff member's own.
    """

    __tablename__ = "staff_enrolments"
    __table_args__ = (CheckConstraint(f"kind IN {STAFF_ENROLMENT_KINDS!r}", name="kind_known"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))
    proposal_id: Mapped[str | None] = mapped_column(
        ForeignKey("staff_proposals.id", ondelete="CASCADE"), index=True
    )
    """Empty only for the first admin, enrolled by the operator before any admin exists."""
    staff_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    locales: Mapped[str] = mapped_column(String(255), default="")
    safety_pool: Mapped[bool] = mapped_column(Boolean, default=False)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    """Empty until the proposer asks for the link; asking again replaces it."""
    code_hash: Mapped[str] = mapped_column(String(64))
    totp_secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    failed_codes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None]
    burned_at: Mapped[datetime | None]
    """Set when too many wrong approval codes were tried: the link is dead."""


class PurposeKey(Base):
    """A purpose key that outlives master-key rotations, wrapped under the master key.

    See ``store.crypto.PINNED_PURPOSES``: it starts as the key the master derives for
    the purpose (so nothing sealed before changes) and a rotation only rewraps it.
    """

    __tablename__ = "purpose_keys"

    purpose: Mapped[str] = mapped_column(String(64), primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    master_key_id: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_audit_events_occurred_at", AuditEvent.occurred_at)
"""The misuse rules read the last hours of the log every few minutes: without this
index each run would read the whole, ever-growing log."""


class MisuseAlert(Base):
    """Something a misuse rule (``audit/misuse.py``) found in the audit trail, for a
    privacy officer to look at and acknowledge.

    ``key`` names what the rule saw (a lease, a reviewer's day, a leaked mark), so the
    same misuse found by every later run is raised once. ``staff_id`` is the person the
    alert is about, kept without a foreign key: the log may name an id that no staff
    row has, and that is an alert too.
    """

    __tablename__ = "misuse_alerts"
    __table_args__ = (UniqueConstraint("rule", "key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    rule: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(200))
    staff_id: Mapped[str | None] = mapped_column(String(32), index=True)
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    observed_at: Mapped[datetime]
    """When the misuse happened (its latest event), as against when it was noticed."""
    raised_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[str | None] = mapped_column(ForeignKey("staff_users.id"))
    acknowledgement_note: Mapped[str | None] = mapped_column(Text)
