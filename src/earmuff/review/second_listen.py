"""A second listen, inside the room: a colleague hears one span and suggests the words.

Reviewers who cannot make out a word otherwise paste the clip into a chat room. Here
the reviewer marks a span of the item they hold; a QA reviewer, or an annotator who
opted in, covering the item's locale, hears only that span in the workbench and
answers with a suggested transcription, sealed under the item's key. The request, each
listen and the answer are audited; the listener never learns who asked, nor the
item's id, and no file leaves.

Sensitive items (the safety pool) are heard only by listeners who joined that pool.
Once an item is out of play (pulled, escalated, deleted) its open requests are
withdrawn, and nothing about it can be heard or answered.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select, update
from sqlalchemy.orm import Session

from earmuff.audio.span import cut_wav_span, wav_duration
from earmuff.audit.log import record
from earmuff.config.policy import WorkbenchPolicy
from earmuff.review.item_state import in_play, in_play_clause
from earmuff.store.blobs import BlobStore
from earmuff.store.crypto import KeyRing
from earmuff.store.models import AuditEvent, ReviewItem, ReviewTask, SecondListen, StaffUser
from earmuff.store.review_items import open_item_text, read_review_audio, seal_item_text

MAX_SUGGESTION_CHARS = 500
SEALED_AS = "second_listen"


class SecondListenError(Exception):
    """A second-listen step that cannot be taken. ``code`` is stable for the web layer,
    ``status`` is the HTTP status it maps to."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


@dataclass(frozen=True)
class OpenRequest:
    """What a listener sees of a request: the span and the locale, not who or which item."""

    id: str
    locale: str
    start_s: float
    end_s: float
    created_at: datetime
    sensitive: bool
    """Show the content warning before the audio starts."""


@dataclass(frozen=True)
class MyRequest:
    """What the requester sees of their own request: the answer, not who gave it."""

    id: str
    start_s: float
    end_s: float
    status: str
    suggestion: str | None
    created_at: datetime
    answered_at: datetime | None


def covers(staff: StaffUser, locale: str) -> bool:
    return locale in {part.strip() for part in staff.locales.split(",") if part.strip()}


def is_listener(staff: StaffUser) -> bool:
    """QA reviewers, and annotators who opted in; officers and admins review nothing."""
    return staff.active and (
        staff.role == "qa_reviewer" or (staff.role == "annotator" and staff.second_listener)
    )


def may_answer(staff: StaffUser, locale: str) -> bool:
    return is_listener(staff) and covers(staff, locale)


def request_second_listen(
    session: Session,
    lease_id: str,
    staff: StaffUser,
    start_s: float,
    end_s: float,
    audio_duration_s: float,
    policy: WorkbenchPolicy,
    now: datetime,
) -> SecondListen:
    """Ask for a second listen of ``start_s``-``end_s`` of the item under ``lease_id``.

    ``audio_duration_s`` is the item's length, which the caller knows from decoding it.
    Asking twice for the same span returns the request already open.
    """
    _check_span(start_s, end_s, audio_duration_s, policy.second_listen_max_s)
    task = session.scalar(select(ReviewTask).where(ReviewTask.lease_id == lease_id))
    if (
        task is None
        or task.lease_holder_id != staff.id
        or task.status != "leased"
        or task.lease_expires_at is None
        or task.lease_expires_at <= now
    ):
        raise SecondListenError("no_lease", "you do not hold a current lease on this item", 403)
    item = session.get(ReviewItem, task.review_item_id)
    if item is None or not in_play(item):
        raise SecondListenError("item_gone", "this item is no longer in review", 410)
    existing = session.scalar(
        select(SecondListen).where(
            SecondListen.review_item_id == item.id,
            SecondListen.requested_by_id == staff.id,
            SecondListen.status == "open",
            SecondListen.start_s == start_s,
            SecondListen.end_s == end_s,
        )
    )
    if existing is not None:
        return existing
    request = SecondListen(
        review_item_id=item.id,
        locale=item.locale,
        start_s=start_s,
        end_s=end_s,
        requested_by_id=staff.id,
        status="open",
        created_at=now,
    )
    session.add(request)
    session.flush()
    record(
        session,
        f"staff:{staff.id}",
        "second_listen.requested",
        f"second_listen:{request.id}",
        {"review_item": item.id, "start_s": start_s, "end_s": end_s},
    )
    return request


def _check_span(start_s: float, end_s: float, duration_s: float, max_s: float) -> None:
    if not all(math.isfinite(value) for value in (start_s, end_s, duration_s)):
        raise SecondListenError("invalid_span", "the span must be given in finite seconds", 422)
    if start_s < 0 or end_s <= start_s:
        raise SecondListenError(
            "invalid_span", f"a span needs 0 <= start < end, got {start_s:g}-{end_s:g} s", 422
        )
    if end_s - start_s > max_s:
        raise SecondListenError(
            "span_too_long",
            f"a second listen covers at most {max_s:g} s; this span is {end_s - start_s:.2f} s",
            422,
        )
    if end_s > duration_s:
        raise SecondListenError(
            "invalid_span",
            f"the span ends at {end_s:g} s but the audio lasts {duration_s:g} s",
            422,
        )


def open_requests(session: Session, staff: StaffUser) -> list[OpenRequest]:
    """Requests ``staff`` may answer, oldest first: their locales, never their own, and
    sensitive items only for members of the safety pool."""
    if not is_listener(staff):
        return []
    locales = [part.strip() for part in staff.locales.split(",") if part.strip()]
    query = (
        select(SecondListen, ReviewItem.sensitive_category)
        .join(ReviewItem, ReviewItem.id == SecondListen.review_item_id)
        .where(
            SecondListen.status == "open",
            SecondListen.locale.in_(locales),
            SecondListen.requested_by_id != staff.id,
            in_play_clause(),
        )
        .order_by(SecondListen.created_at, SecondListen.id)
    )
    if not staff.safety_pool:
        query = query.where(ReviewItem.sensitive_category.is_(None))
    return [
        OpenRequest(
            id=request.id,
            locale=request.locale,
            start_s=request.start_s,
            end_s=request.end_s,
            created_at=request.created_at,
            sensitive=category is not None,
        )
        for request, category in session.execute(query)
    ]


def _answerable(
    session: Session, request_id: str, staff: StaffUser
) -> tuple[SecondListen, ReviewItem]:
    """The open request and its item, if ``staff`` may hear and answer it; else refuse.

    Someone who may not hear the request (their own, another locale, a sensitive item
    outside their pool) is told only "not found": nobody can probe which requests exist.
    """
    request = session.get(SecondListen, request_id, with_for_update=True, populate_existing=True)
    if (
        request is None
        or request.requested_by_id == staff.id
        or not may_answer(staff, request.locale)
    ):
        raise SecondListenError("not_found", "no such second-listen request for you", 404)
    item = session.get(ReviewItem, request.review_item_id)
    if item is None or not in_play(item) or request.status == "withdrawn":
        raise SecondListenError("item_gone", "this item is no longer in review", 410)
    if item.sensitive_category is not None and not staff.safety_pool:
        raise SecondListenError("not_found", "no such second-listen request for you", 404)
    if request.status != "open":
        raise SecondListenError("already_answered", "a colleague has already answered", 409)
    return request, item


def listen(
    session: Session,
    keyring: KeyRing,
    blobs: BlobStore,
    request_id: str,
    staff: StaffUser,
    now: datetime,
) -> bytes:
    """The requested span of the item's anonymized audio, as WAV bytes, faded at the
    edges; audited. The caller streams it like the workbench's own audio."""
    request, item = _answerable(session, request_id, staff)
    wav = read_review_audio(keyring, blobs, item)
    span = cut_wav_span(wav, request.start_s, min(request.end_s, wav_duration(wav)))
    record(
        session,
        f"staff:{staff.id}",
        "second_listen.listened",
        f"second_listen:{request.id}",
        {"review_item": item.id, "start_s": request.start_s, "end_s": request.end_s},
    )
    return span


def answer(
    session: Session,
    keyring: KeyRing,
    request_id: str,
    staff: StaffUser,
    suggestion: str,
    now: datetime,
) -> SecondListen:
    """Answer with a suggested transcription of the span: only after hearing it, once."""
    text = " ".join(suggestion.split())
    if not text:
        raise SecondListenError("empty_suggestion", "write what you heard", 422)
    if len(text) > MAX_SUGGESTION_CHARS:
        raise SecondListenError(
            "suggestion_too_long", f"a suggestion is at most {MAX_SUGGESTION_CHARS} characters", 422
        )
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise SecondListenError("invalid_suggestion", "the suggestion has control characters", 422)
    request, item = _answerable(session, request_id, staff)
    heard = session.scalar(
        select(AuditEvent.id).where(
            AuditEvent.subject == f"second_listen:{request.id}",
            AuditEvent.action == "second_listen.listened",
            AuditEvent.actor == f"staff:{staff.id}",
        )
    )
    if heard is None:
        raise SecondListenError("not_heard", "listen to the span before answering", 409)
    request.status = "answered"
    request.answered_by_id = staff.id
    request.answered_at = now
    request.suggestion_sealed = seal_item_text(keyring, item, f"{SEALED_AS}:{request.id}", text)
    session.flush()
    record(
        session,
        f"staff:{staff.id}",
        "second_listen.answered",
        f"second_listen:{request.id}",
        {"review_item": item.id},
    )
    return request


def my_requests(
    session: Session, keyring: KeyRing, lease_id: str, staff: StaffUser, now: datetime
) -> list[MyRequest]:
    """The requests ``staff`` made about the item they hold under ``lease_id``, with any
    answers. Nothing once the lease is gone: reviewers see only the item they hold."""
    task = session.scalar(select(ReviewTask).where(ReviewTask.lease_id == lease_id))
    if (
        task is None
        or task.lease_holder_id != staff.id
        or task.status != "leased"
        or task.lease_expires_at is None
        or task.lease_expires_at <= now
    ):
        return []
    item = session.get(ReviewItem, task.review_item_id)
    if item is None or not in_play(item):
        return []
    requests = session.scalars(
        select(SecondListen)
        .where(
            SecondListen.review_item_id == item.id,
            SecondListen.requested_by_id == staff.id,
            SecondListen.status != "withdrawn",
        )
        .order_by(SecondListen.created_at, SecondListen.id)
    )
    return [
        MyRequest(
            id=request.id,
            start_s=request.start_s,
            end_s=request.end_s,
            status=request.status,
            suggestion=(
                open_item_text(
                    keyring, item, f"{SEALED_AS}:{request.id}", request.suggestion_sealed
                )
                if request.suggestion_sealed is not None
                else None
            ),
            created_at=request.created_at,
            answered_at=request.answered_at,
        )
        for request in requests
    ]


def withdraw_for_item(session: Session, review_item_id: str, actor: str) -> int:
    """Withdraw the item's open requests (it was pulled, escalated or deleted); audited.

    Listing, listening and answering check the item themselves as well, so a caller
    that forgets this cannot expose the item; this keeps the table truthful.
    """
    result = session.execute(
        update(SecondListen)
        .where(and_(SecondListen.review_item_id == review_item_id, SecondListen.status == "open"))
        .values(status="withdrawn")
        .execution_options(synchronize_session="fetch")
    )
    count = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if count:
        record(
            session,
            actor,
            "second_listen.withdrawn",
            f"review_item:{review_item_id}",
            {"requests": count},
        )
    return count
