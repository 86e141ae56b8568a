"""A second listen: one span, heard by one colleague inside the workbench, answered, audited."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.config.policy import WorkbenchPolicy
from earmuff.review.second_listen import (
    SecondListenError,
    answer,
    listen,
    my_requests,
    open_requests,
    request_second_listen,
    withdraw_for_item,
)
from earmuff.store import Store
from earmuff.store.models import AuditEvent, ReviewItem, SecondListen, StaffUser
from earmuff.store.review_items import read_review_audio
from tests.review.conftest import RATE, lease_task, make_item, make_staff

POLICY = WorkbenchPolicy()


class Room:
    """One item held by a reviewer, and the colleagues around them."""

    def __init__(self, store: Store, now: datetime, sensitive: str | None = None) -> None:
        self.store = store
        self.now = now
        self.item_id = make_item(store, seconds=4.0, seed=5, sensitive=sensitive)
        with store.db.transaction() as session:
            self.requester = make_staff(session, "asker", locales="en-US,de-DE")
            self.qa = make_staff(session, "qa", role="qa_reviewer", locales="en-US")
            self.qa_de = make_staff(session, "qa-de", role="qa_reviewer", locales="de-DE")
            self.opted_in = make_staff(session, "helper", locales="en-US", second_listener=True)
            self.not_opted = make_staff(session, "bystander", locales="en-US")
            self.pool_helper = make_staff(
                session, "pool-helper", locales="en-US", second_listener=True, safety_pool=True
            )
            self.officer = make_staff(session, "officer", role="safety_officer", locales="en-US")
            self.admin = make_staff(session, "admin", role="admin", locales="en-US")
            self.lease_id = lease_task(session, self.item_id, self.requester, now).lease_id or ""

    def ask(self, start: float = 1.0, end: float = 2.5, duration: float = 4.0) -> str:
        with self.store.db.transaction() as session:
            return request_second_listen(
                session,
                self.lease_id,
                self.staff(session, self.requester),
                start,
                end,
                duration,
                POLICY,
                self.now,
            ).id

    def staff(self, session: Session, user: StaffUser) -> StaffUser:
        """The row as this session sees it: the functions take the caller's own copy."""
        fresh = session.get(StaffUser, user.id)
        assert fresh is not None
        return fresh

    def visible_to(self, user: StaffUser) -> list[str]:
        with self.store.db.read() as session:
            return [request.id for request in open_requests(session, self.staff(session, user))]

    def hear(self, request_id: str, user: StaffUser) -> bytes:
        with self.store.db.transaction() as session:
            return listen(
                session,
                self.store.keyring,
                self.store.blobs,
                request_id,
                self.staff(session, user),
                self.now,
            )

    def reply(self, request_id: str, user: StaffUser, text: str) -> SecondListen:
        with self.store.db.transaction() as session:
            return answer(
                session, self.store.keyring, request_id, self.staff(session, user), text, self.now
            )


@pytest.fixture
def room(store: Store, now: datetime) -> Room:
    return Room(store, now)


def _audit(store: Store, request_id: str) -> list[AuditEvent]:
    with store.db.read() as session:
        return list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.subject == f"second_listen:{request_id}")
                .order_by(AuditEvent.id)
            )
        )


def test_the_lease_holder_asks_a_colleague_hears_the_span_and_the_answer_comes_back(
    room: Room,
) -> None:
    request_id = room.ask(1.0, 2.5)
    assert room.visible_to(room.qa) == [request_id]

    span = room.hear(request_id, room.qa)
    samples, rate = sf.read(io.BytesIO(span), dtype="int16")
    with room.store.db.read() as session:
        item = session.get(ReviewItem, room.item_id)
        assert item is not None
        whole, _ = sf.read(
            io.BytesIO(read_review_audio(room.store.keyring, room.store.blobs, item)),
            dtype="int16",
        )
    assert rate == RATE and len(samples) == int(1.5 * RATE)
    np.testing.assert_array_equal(samples[400:-400], whole[RATE + 400 : int(2.5 * RATE) - 400])

    room.reply(request_id, room.qa, "  set a timer for\tten minutes ")
    assert room.visible_to(room.qa) == []
    with room.store.db.read() as session:
        requester = room.staff(session, room.requester)
        [mine] = my_requests(session, room.store.keyring, room.lease_id, requester, room.now)
        stored = session.get(SecondListen, request_id)
        assert stored is not None and stored.suggestion_sealed is not None
        assert b"timer" not in stored.suggestion_sealed
    assert mine.status == "answered" and mine.suggestion == "set a timer for ten minutes"
    assert (mine.start_s, mine.end_s) == (1.0, 2.5)

    trail = _audit(room.store, request_id)
    assert [event.action for event in trail] == [
        "second_listen.requested",
        "second_listen.listened",
        "second_listen.answered",
    ]
    assert trail[0].actor == f"staff:{room.requester.id}"
    assert trail[1].actor == trail[2].actor == f"staff:{room.qa.id}"
    assert trail[0].details == {"review_item": room.item_id, "start_s": 1.0, "end_s": 2.5}


def test_asking_twice_for_the_same_span_makes_one_request(room: Room) -> None:
    assert room.ask(1.0, 2.0) == room.ask(1.0, 2.0)
    assert room.ask(1.0, 2.0) != room.ask(2.0, 3.0)


@pytest.mark.parametrize(
    ("start", "end", "duration", "code", "message"),
    [
        (2.0, 2.0, 4.0, "invalid_span", "0 <= start < end"),
        (3.0, 2.0, 4.0, "invalid_span", "0 <= start < end"),
        (-1.0, 2.0, 4.0, "invalid_span", "0 <= start < end"),
        (0.0, 10.5, 30.0, "span_too_long", "at most 10 s; this span is 10.50 s"),
        (3.0, 4.5, 4.0, "invalid_span", "the audio lasts 4 s"),
        (float("nan"), 1.0, 4.0, "invalid_span", "finite"),
    ],
)
def test_a_span_must_lie_inside_the_audio_and_be_short(
    room: Room, start: float, end: float, duration: float, code: str, message: str
) -> None:
    with pytest.raises(SecondListenError, match=message) as refused:
        room.ask(start, end, duration)
    assert refused.value.code == code and refused.value.status == 422
    with room.store.db.read() as session:
        assert session.scalars(select(SecondListen)).all() == []


def test_only_the_current_lease_holder_may_ask(room: Room) -> None:
    with room.store.db.transaction() as session:
        other = room.staff(session, room.not_opted)
        with pytest.raises(SecondListenError, match="do not hold a current lease") as refused:
            request_second_listen(session, room.lease_id, other, 0, 1, 4, POLICY, room.now)
        assert refused.value.status == 403
        requester = room.staff(session, room.requester)
        later = room.now + timedelta(minutes=11)
        with pytest.raises(SecondListenError, match="do not hold a current lease"):
            request_second_listen(session, room.lease_id, requester, 0, 1, 4, POLICY, later)
        with pytest.raises(SecondListenError, match="do not hold a current lease"):
            request_second_listen(session, "no-such-lease", requester, 0, 1, 4, POLICY, room.now)


def test_requests_reach_qa_and_opted_in_colleagues_of_the_locale_never_the_requester(
    room: Room,
) -> None:
    request_id = room.ask()
    assert room.visible_to(room.qa) == [request_id]
    assert room.visible_to(room.opted_in) == [request_id]
    assert room.visible_to(room.pool_helper) == [request_id]
    for user in (room.requester, room.not_opted, room.qa_de, room.officer, room.admin):
        assert room.visible_to(user) == [], user.username
    for user in (room.requester, room.not_opted, room.qa_de, room.officer):
        with pytest.raises(SecondListenError, match="no such second-listen request") as refused:
            room.hear(request_id, user)
        assert refused.value.status == 404


def test_a_sensitive_item_is_heard_only_by_colleagues_in_the_safety_pool(
    store: Store, now: datetime
) -> None:
    room = Room(store, now, sensitive="distress")
    request_id = room.ask()
    assert room.visible_to(room.qa) == []
    assert room.visible_to(room.opted_in) == []
    with room.store.db.read() as session:
        [seen] = open_requests(session, room.staff(session, room.pool_helper))
    assert seen.id == request_id and seen.sensitive is True and seen.locale == "en-US"
    with pytest.raises(SecondListenError, match="no such"):
        room.hear(request_id, room.qa)
    assert room.hear(request_id, room.pool_helper)[:4] == b"RIFF"


def test_an_answer_needs_a_listen_first_and_comes_once(room: Room) -> None:
    request_id = room.ask()
    with pytest.raises(SecondListenError, match="listen to the span before answering"):
        room.reply(request_id, room.qa, "ten minutes")
    room.hear(request_id, room.qa)
    room.hear(request_id, room.opted_in)
    room.reply(request_id, room.qa, "ten minutes")
    with pytest.raises(SecondListenError, match="already answered") as refused:
        room.reply(request_id, room.opted_in, "tin minutes")
    assert refused.value.status == 409
    with pytest.raises(SecondListenError, match="already answered"):
        room.hear(request_id, room.opted_in)


@pytest.mark.parametrize(
    ("text", "message"),
    [("   ", "write what you heard"), ("x" * 501, "at most 500"), ("ten\x00", "control")],
)
def test_a_suggestion_must_be_readable_text(room: Room, text: str, message: str) -> None:
    request_id = room.ask()
    room.hear(request_id, room.qa)
    with pytest.raises(SecondListenError, match=message):
        room.reply(request_id, room.qa, text)


def test_a_pulled_item_takes_its_requests_with_it(room: Room) -> None:
    request_id = room.ask()
    room.hear(request_id, room.qa)
    with room.store.db.transaction() as session:
        item = session.get(ReviewItem, room.item_id)
        assert item is not None
        item.status = "pulled"
    assert room.visible_to(room.qa) == []
    with pytest.raises(SecondListenError, match="no longer in review") as refused:
        room.hear(request_id, room.qa)
    assert refused.value.status == 410
    with pytest.raises(SecondListenError, match="no longer in review"):
        room.reply(request_id, room.qa, "ten")
    with room.store.db.transaction() as session:
        assert withdraw_for_item(session, room.item_id, "test") == 1
        assert withdraw_for_item(session, room.item_id, "test") == 0
    with room.store.db.read() as session:
        stored = session.get(SecondListen, request_id)
        assert stored is not None and stored.status == "withdrawn"
        requester = room.staff(session, room.requester)
        assert my_requests(session, room.store.keyring, room.lease_id, requester, room.now) == []


def test_a_deleted_item_row_deletes_its_requests(room: Room) -> None:
    request_id = room.ask()
    with room.store.db.transaction() as session:
        session.delete(session.get(ReviewItem, room.item_id))
    with room.store.db.read() as session:
        assert session.get(SecondListen, request_id) is None


def test_the_requester_sees_answers_only_while_holding_the_item(room: Room) -> None:
    request_id = room.ask()
    room.hear(request_id, room.qa)
    room.reply(request_id, room.qa, "ten minutes")
    with room.store.db.read() as session:
        requester = room.staff(session, room.requester)
        later = room.now + timedelta(minutes=30)
        assert my_requests(session, room.store.keyring, room.lease_id, requester, later) == []
        other = room.staff(session, room.qa)
        assert my_requests(session, room.store.keyring, room.lease_id, other, room.now) == []
