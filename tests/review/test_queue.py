"""The task queue: who gets which item, under which lease, and what a submission does."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from earmuff.audit.log import verify
from earmuff.config.policy import WorkbenchPolicy
from earmuff.review import queue
from earmuff.review.escalation import ESCALATING_FLAGS
from earmuff.review.queue import (
    URGENCY,
    GoldRefused,
    InvalidSubmission,
    Lease,
    LeaseLost,
    Reviewer,
    Submission,
)
from earmuff.store import Store
from earmuff.store.models import (
    Annotation,
    AuditEvent,
    GoldAnswer,
    ReviewItem,
    ReviewTask,
    SafetyCase,
    StaffUser,
)
from earmuff.store.review_items import ANNOTATION_TEXT, open_item_text, queue_tasks
from tests.review.conftest import make_item, make_staff

POLICY = WorkbenchPolicy(gold_share=0.0)
TIMER = Submission(transcript="set a timer for ten minutes", intent="set_timer")


def reviewer(
    store: Store,
    name: str,
    locales: str = "en-US",
    safety_pool: bool = False,
    role: str = "annotator",
) -> Reviewer:
    with store.db.transaction() as session:
        return Reviewer.of(make_staff(session, name, role, locales, safety_pool))


def queued_item(
    store: Store,
    copies: int = 1,
    locale: str = "en-US",
    sensitive: str | None = None,
    created_at: datetime | None = None,
) -> str:
    """A real sealed review item, queued as ``copies`` tasks."""
    item_id = make_item(store, locale=locale, sensitive=sensitive)
    with store.db.transaction() as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        if created_at is not None:
            item.created_at = created_at
        queue_tasks(session, item, copies)
    return item_id


def take(store: Store, who: Reviewer, now: datetime, policy: WorkbenchPolicy = POLICY) -> Lease:
    lease = queue.next_task(store.db, who, policy, now)
    assert lease is not None, f"{who.id} got no task"
    return lease


def submit(
    store: Store,
    who: Reviewer,
    lease: Lease,
    now: datetime,
    submission: Submission = TIMER,
    policy: WorkbenchPolicy = POLICY,
) -> Annotation:
    return queue.submit(store.db, store.keyring, who, lease.lease_id, submission, policy, now)


def item_status(store: Store, item_id: str) -> str:
    with store.db.read() as session:
        item = session.get(ReviewItem, item_id)
        assert item is not None
        return item.status


def task_statuses(store: Store, item_id: str) -> list[str]:
    with store.db.read() as session:
        return list(
            session.scalars(
                select(ReviewTask.status)
                .where(ReviewTask.review_item_id == item_id)
                .order_by(ReviewTask.slot)
            )
        )


# Hand-out


def test_a_reviewer_gets_the_oldest_task_of_their_locale_under_a_lease_of_the_policy_length(
    store: Store, now: datetime
) -> None:
    newer = queued_item(store, created_at=now - timedelta(hours=1))
    older = queued_item(store, created_at=now - timedelta(hours=2))
    ana = reviewer(store, "ana")
    lease = take(store, ana, now)
    assert lease.review_item_id == older
    assert (lease.kind, lease.pool, lease.locale) == ("single", "general", "en-US")
    assert lease.started_at == now
    assert lease.expires_at == now + timedelta(minutes=POLICY.lease_minutes)
    assert len(lease.lease_id) == 32 and lease.lease_id != lease.task_id
    with store.db.read() as session:
        assert queue.current_lease(session, ana, now) == lease
    assert newer != older


def test_a_reviewer_holds_one_task_at_a_time_and_asking_again_returns_it(
    store: Store, now: datetime
) -> None:
    queued_item(store)
    queued_item(store)
    ana = reviewer(store, "ana")
    first = take(store, ana, now)
    assert take(store, ana, now + timedelta(minutes=3)) == first


def test_an_empty_queue_gives_nothing(store: Store, now: datetime) -> None:
    assert queue.next_task(store.db, reviewer(store, "ana"), POLICY, now) is None


def test_only_items_of_the_reviewers_locales_are_handed_out(store: Store, now: datetime) -> None:
    german = queued_item(store, locale="de-DE")
    assert queue.next_task(store.db, reviewer(store, "ana", "en-US,en-GB"), POLICY, now) is None
    assert queue.next_task(store.db, reviewer(store, "nobody", ""), POLICY, now) is None
    both = reviewer(store, "jonas", "en-US, de-DE")
    assert both.locales == ("en-US", "de-DE")
    assert take(store, both, now).review_item_id == german


def test_a_disabled_account_gets_no_task(store: Store, now: datetime) -> None:
    queued_item(store)
    ana = reviewer(store, "ana")
    with store.db.transaction() as session:
        user = session.get(StaffUser, ana.id)
        assert user is not None
        user.active = False
    with pytest.raises(PermissionError):
        queue.next_task(store.db, ana, POLICY, now)


def test_overlap_copies_go_to_different_reviewers_and_the_item_is_done_after_the_last(
    store: Store, now: datetime
) -> None:
    item_id = queued_item(store, copies=3)
    people = [reviewer(store, name) for name in ("ana", "ben", "cho")]
    leases = []
    for who in people:
        lease = take(store, who, now)
        leases.append(lease)
        assert lease.kind == "overlap"
        submit(store, who, lease, now)
        assert queue.next_task(store.db, who, POLICY, now) is None, "one copy per reviewer"
    assert len({lease.task_id for lease in leases}) == 3
    assert item_status(store, item_id) == "done"
    assert task_statuses(store, item_id) == ["done"] * 3


def test_an_item_stays_queued_until_its_last_copy_is_done(store: Store, now: datetime) -> None:
    item_id = queued_item(store, copies=2)
    ana = reviewer(store, "ana")
    submit(store, ana, take(store, ana, now), now)
    assert item_status(store, item_id) == "queued"
    assert task_statuses(store, item_id) == ["done", "queued"]


def test_a_single_item_is_done_once_submitted(store: Store, now: datetime) -> None:
    item_id = queued_item(store)
    ana = reviewer(store, "ana")
    submit(store, ana, take(store, ana, now), now)
    assert item_status(store, item_id) == "done"


# Skipping and handing back


def test_a_skipped_task_goes_to_someone_else_and_never_back_to_the_skipper(
    store: Store, now: datetime
) -> None:
    queued_item(store, created_at=now - timedelta(hours=1))
    queued_item(store)
    ana, ben = reviewer(store, "ana"), reviewer(store, "ben")
    lease = take(store, ana, now)
    skipped = queue.skip(store.db, ana, lease.lease_id, "wrong_language", now)
    assert (skipped.outcome, skipped.skip_reason, skipped.transcript_sealed) == (
        "skipped",
        "wrong_language",
        None,
    )
    assert take(store, ana, now).task_id != lease.task_id
    assert take(store, ben, now).task_id == lease.task_id, "the skipped task keeps its place"


def test_no_copy_of_a_skipped_overlap_item_comes_back_to_the_skipper(
    store: Store, now: datetime
) -> None:
    item_id = queued_item(store, copies=2)
    ana = reviewer(store, "ana")
    queue.skip(store.db, ana, take(store, ana, now).lease_id, "too_distressing", now)
    assert queue.next_task(store.db, ana, POLICY, now) is None
    assert task_statuses(store, item_id) == ["queued", "queued"]


@pytest.mark.parametrize("reason", ["", "boring", "NO_AUDIO"])
def test_a_skip_needs_a_known_reason(store: Store, now: datetime, reason: str) -> None:
    queued_item(store)
    ana = reviewer(store, "ana")
    lease = take(store, ana, now)
    with pytest.raises(InvalidSubmission) as refused:
        queue.skip(store.db, ana, lease.lease_id, reason, now)
    assert refused.value.field == "reason"
    with store.db.read() as session:
        assert queue.current_lease(session, ana, now) == lease


def test_releasing_hands_the_task_back_without_a_mark(store: Store, now: datetime) -> None:
    queued_item(store)
    ana = reviewer(store, "ana")
    lease = take(store, ana, now)
    assert queue.release(store.db, ana, lease.lease_id, now) is True
    assert queue.release(store.db, ana, lease.lease_id, now) is False
    again = take(store, ana, now)
    assert again.task_id == lease.task_id and again.lease_id != lease.lease_id
    with store.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Annotation)) == 0


# Leases


def test_a_lapsed_lease_returns_its_task_to_the_queue_and_the_old_holder_cannot_submit(
    store: Store, now: datetime
) -> None:
    queued_item(store)
    ana, ben = reviewer(store, "ana"), reviewer(store, "ben")
    stale = take(store, ana, now)
    later = now + timedelta(minutes=POLICY.lease_minutes + 1)
    with store.db.read() as session:
        assert queue.current_lease(session, ana, later) is None
    fresh = take(store, ben, later)
    assert fresh.task_id == stale.task_id and fresh.lease_id != stale.lease_id
    with pytest.raises(LeaseLost):
        submit(store, ana, stale, later)
    with pytest.raises(LeaseLost):
        queue.renew(store.db, ana, stale.lease_id, POLICY, later)
    with pytest.raises(LeaseLost):
        queue.skip(store.db, ana, stale.lease_id, "other", later)
    submit(store, ben, fresh, later)


def test_a_lapsed_lease_nobody_took_can_still_be_renewed_and_submitted(
    store: Store, now: datetime
) -> None:
    queued_item(store)
    ana = reviewer(store, "ana")
    lease = take(store, ana, now)
    later = now + timedelta(minutes=POLICY.lease_minutes + 2)
    renewed = queue.renew(store.db, ana, lease.lease_id, POLICY, later)
    assert renewed.lease_id == lease.lease_id and renewed.started_at == lease.started_at
    assert renewed.expires_at == later + timedelta(minutes=POLICY.lease_minutes)
    assert submit(store, ana, renewed, later).started_at == now


def test_asking_for_work_after_a_lapse_ends_the_old_lease(store: Store, now: datetime) -> None:
    """Otherwise the old lease could be renewed into a second one held at the same time."""
    queued_item(store)
    queued_item(store)
    ana = reviewer(store, "ana")
    old = take(store, ana, now)
    later = now + timedelta(minutes=POLICY.lease_minutes + 1)
    new = take(store, ana, later)
    with pytest.raises(LeaseLost):
        queue.renew(store.db, ana, old.lease_id, POLICY, later)
    assert new.lease_id != old.lease_id


def test_renewing_extends_only_ones_own_lease(store: Store, now: datetime) -> None:
    queued_item(store)
    ana, ben = reviewer(store, "ana"), reviewer(store, "ben")
    lease = take(store, ana, now)
    soon = now + timedelta(minutes=8)
    assert queue.renew(store.db, ana, lease.lease_id, POLICY, soon).expires_at == soon + timedelta(
        minutes=POLICY.lease_minutes
    )
    with pytest.raises(LeaseLost):
        queue.renew(store.db, ben, lease.lease_id, POLICY, soon)
    with pytest.raises(LeaseLost):
        submit(store, ben, lease, soon)
    with pytest.raises(LeaseLost):
        queue.renew(store.db, ana, "0" * 32, POLICY, soon)


def test_a_submitted_lease_cannot_be_used_again(store: Store, now: datetime) -> None:
    queued_item(store)
    ana = reviewer(store, "ana")
    lease = take(store, ana, now)
    submit(store, ana, lease, now)
    with pytest.raises(LeaseLost, match="already submitted"):
        submit(store, ana, lease, now)


# The safety pool


def test_sensitive_items_go_only_to_reviewers_in_the_safety_pool(
    store: Store, now: datetime
) -> None:
    item_id = queued_item(store, sensitive="self_harm")
    assert queue.next_task(store.db, reviewer(store, "ana"), POLICY, now) is None
    lease = take(store, reviewer(store, "sam", safety_pool=True), now)
    assert (lease.review_item_id, lease.pool) == (item_id, "safety")


def test_a_safety_reviewer_gets_sensitive_items_first_up_to_the_shift_cap_then_general_work(
    store: Store, now: datetime
) -> None:
    policy = WorkbenchPolicy(gold_share=0.0, sensitive_per_shift=2, shift_hours=8)
    for _ in range(4):
        queued_item(store, sensitive="violence")
    general = [queued_item(store) for _ in range(2)]
    sam = reviewer(store, "sam", safety_pool=True)
    pools = []
    for minute in range(4):
        at = now + timedelta(minutes=minute)
        lease = take(store, sam, at, policy)
        pools.append(lease.pool)
        submit(store, sam, lease, at, policy=policy)
    assert pools == ["safety", "safety", "general", "general"]
    with store.db.read() as session:
        counts = queue.shift_counts(session, sam, policy, now + timedelta(minutes=5))
    assert (counts.done, counts.sensitive, counts.sensitive_cap) == (4, 2, 2)
    assert queue.next_task(store.db, sam, policy, now + timedelta(minutes=5)) is None
    next_shift = now + timedelta(hours=8, minutes=1)
    assert take(store, sam, next_shift, policy).pool == "safety"
    assert len(general) == 2


def test_a_lapsed_sensitive_lease_still_counts_against_the_cap(store: Store, now: datetime) -> None:
    """The reviewer heard it even if they never submitted."""
    policy = WorkbenchPolicy(gold_share=0.0, sensitive_per_shift=1)
    queued_item(store, sensitive="violence")
    queued_item(store, sensitive="violence")
    sam = reviewer(store, "sam", safety_pool=True)
    take(store, sam, now, policy)
    later = now + timedelta(minutes=policy.lease_minutes + 1)
    assert queue.next_task(store.db, sam, policy, later) is None


# Submissions


def test_a_submission_is_kept_sealed_under_the_items_key(store: Store, now: datetime) -> None:
    item_id = queued_item(store)
    ana = reviewer(store, "ana")
    lease = take(store, ana, now)
    done_at = now + timedelta(minutes=2)
    annotation = submit(
        store,
        ana,
        lease,
        done_at,
        Submission(
            transcript="  play Harbour Lights by Orla  ",
            intent="play_music",
            slots={"song": "Harbour Lights", "artist": "Orla"},
            flags=("unintelligible",),
        ),
    )
    with store.db.read() as session:
        row = session.get(Annotation, annotation.id)
        item = session.get(ReviewItem, item_id)
        assert row is not None and item is not None and row.transcript_sealed is not None
        assert b"Harbour" not in row.transcript_sealed
        text = open_item_text(store.keyring, item, ANNOTATION_TEXT, row.transcript_sealed)
    assert text == "play Harbour Lights by Orla"
    assert (row.outcome, row.intent, row.staff_role) == ("submitted", "play_music", "annotator")
    assert row.slots == {"song": "Harbour Lights", "artist": "Orla"}
    assert row.flags == {"unintelligible": True}
    assert (row.started_at, row.submitted_at) == (now, done_at)


@pytest.mark.parametrize(
    ("submission", "field"),
    [
        (Submission(transcript="x" * 2001), "transcript"),
        (Submission(transcript=""), "transcript"),
        (Submission(transcript="call me\x00maybe"), "transcript"),
        (Submission(transcript="hi", intent="order_pizza"), "intent"),
        (Submission(transcript="hi", slots={"colour": "red"}), "slots"),
        (Submission(transcript="hi", slots={"song": "  "}), "slots"),
        (Submission(transcript="hi", slots={"song": "x" * 201}), "slots"),
        (Submission(transcript="hi", flags=("funny",)), "flags"),
        (Submission(transcript="hi", flags=("sensitive",)), "sensitive_category"),
        (
            Submission(transcript="hi", flags=("sensitive",), sensitive_category="gossip"),
            "sensitive_category",
        ),
        (Submission(transcript="hi", sensitive_category="violence"), "sensitive_category"),
    ],
    ids=[
        "transcript too long",
        "empty transcript without a reason",
        "control character",
        "intent outside the schema",
        "slot outside the schema",
        "blank slot value",
        "slot value too long",
        "unknown flag",
        "sensitive without a category",
        "unknown category",
        "category without the flag",
    ],
)
def test_a_submission_outside_the_schema_is_refused_and_changes_nothing(
    store: Store, now: datetime, submission: Submission, field: str
) -> None:
    item_id = queued_item(store)
    ana = reviewer(store, "ana")
    lease = take(store, ana, now)
    with pytest.raises(InvalidSubmission) as refused:
        submit(store, ana, lease, now, submission)
    assert refused.value.field == field
    assert str(refused.value)
    assert task_statuses(store, item_id) == ["leased"]
    with store.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Annotation)) == 0


def test_an_empty_transcript_is_accepted_with_a_flag_that_explains_it(
    store: Store, now: datetime
) -> None:
    queued_item(store)
    ana = reviewer(store, "ana")
    lease = take(store, ana, now)
    annotation = submit(store, ana, lease, now, Submission(transcript="", flags=("no_wake_word",)))
    assert annotation.flags == {"no_wake_word": True}


# Flags that take an item out of the queue


def test_a_pii_leak_pulls_the_item_at_once_from_everyone_and_is_audited(
    store: Store, now: datetime
) -> None:
    item_id = queued_item(store, copies=3)
    ana, ben, cho = (reviewer(store, name) for name in ("ana", "ben", "cho"))
    ana_lease, ben_lease = take(store, ana, now), take(store, ben, now)
    leak = Submission(transcript="call [PERSON] on 0 7 7 0 0", flags=("pii_leak",))
    annotation = submit(store, ana, ana_lease, now, leak)
    assert item_status(store, item_id) == "pulled"
    assert sorted(task_statuses(store, item_id)) == ["done", "withdrawn", "withdrawn"]
    with store.db.read() as session:
        assert queue.current_lease(session, ben, now) is None
        events = session.scalars(
            select(AuditEvent).where(AuditEvent.subject == f"review_item:{item_id}")
        ).all()
        assert [e.action for e in events] == ["review.item_pulled"]
        assert events[0].details["annotation"] == annotation.id
        assert session.get(Annotation, annotation.id) is not None, "the submission is kept"
        verify(session)
    with pytest.raises(LeaseLost, match="withdrawn"):
        submit(store, ben, ben_lease, now)
    with pytest.raises(LeaseLost, match="withdrawn"):
        queue.renew(store.db, ben, ben_lease.lease_id, POLICY, now)
    assert queue.next_task(store.db, cho, POLICY, now) is None


@pytest.mark.parametrize("flag", ["sensitive", "possible_crime", "someone_in_danger"])
def test_an_escalating_flag_takes_the_item_out_of_every_queue_and_opens_a_case(
    store: Store, now: datetime, flag: str
) -> None:
    item_id = queued_item(store, copies=2)
    ana, ben = reviewer(store, "ana"), reviewer(store, "ben")
    category = "violence" if flag == "sensitive" else None
    annotation = submit(
        store,
        ana,
        take(store, ana, now),
        now,
        Submission(transcript="he has a knife", flags=(flag,), sensitive_category=category),
    )
    assert item_status(store, item_id) == "escalated"
    assert task_statuses(store, item_id) == ["done", "withdrawn"]
    assert queue.next_task(store.db, ben, POLICY, now) is None
    with store.db.read() as session:
        case = session.scalars(select(SafetyCase)).one()
        assert (case.review_item_id, case.reason, case.category, case.opened_by_id) == (
            item_id,
            flag,
            category,
            ana.id,
        )
    assert annotation.flags == {flag: category or True}


def test_a_leak_together_with_danger_escalates_the_item_and_audits_the_leak(
    store: Store, now: datetime
) -> None:
    item_id = queued_item(store)
    ana = reviewer(store, "ana")
    submit(
        store,
        ana,
        take(store, ana, now),
        now,
        Submission(transcript="help", flags=("pii_leak", "possible_crime", "someone_in_danger")),
    )
    assert item_status(store, item_id) == "escalated"
    with store.db.read() as session:
        assert session.scalars(select(SafetyCase.reason)).all() == ["someone_in_danger"]
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert "review.item_pulled" in actions and "safety.case_opened" in actions


def test_the_urgency_order_covers_exactly_the_escalating_flags() -> None:
    assert sorted(URGENCY) == sorted(ESCALATING_FLAGS)


def test_withdrawing_an_item_ends_every_lease_on_it(store: Store, now: datetime) -> None:
    item_id = queued_item(store, copies=3)
    ana = reviewer(store, "ana")
    lease = take(store, ana, now)
    with store.db.transaction() as session:
        assert queue.withdraw_item(session, item_id, "consent_withdrawn") == 3
    assert item_status(store, item_id) == "withdrawn"
    assert task_statuses(store, item_id) == ["withdrawn"] * 3
    with pytest.raises(LeaseLost, match="withdrawn"):
        submit(store, ana, lease, now)
    with store.db.transaction() as session, pytest.raises(ValueError, match="withdrawn for"):
        queue.withdraw_item(session, item_id, "bored")


def test_an_escalated_item_stays_escalated_when_consent_is_withdrawn(
    store: Store, now: datetime
) -> None:
    item_id = queued_item(store)
    with store.db.transaction() as session:
        queue.withdraw_item(session, item_id, "escalated")
        queue.withdraw_item(session, item_id, "consent_withdrawn")
    assert item_status(store, item_id) == "escalated"


# Gold


def gold_item(store: Store, now: datetime, transcript: str = "set a timer for ten minutes") -> str:
    """An item annotated by a first reviewer and made gold by a QA reviewer."""
    item_id = queued_item(store, created_at=now - timedelta(days=1))
    first = reviewer(store, "first-" + item_id[:6])
    annotation = submit(
        store,
        first,
        take(store, first, now),
        now,
        Submission(transcript=transcript, intent="set_timer"),
    )
    qa = reviewer(store, "qa-" + item_id[:6], role="qa_reviewer")
    queue.make_gold(store.db, store.keyring, qa, annotation.id)
    return item_id


def test_a_qa_reviewer_makes_an_annotation_gold_and_it_is_audited(
    store: Store, now: datetime
) -> None:
    item_id = gold_item(store, now)
    with store.db.read() as session:
        gold = session.get(GoldAnswer, item_id)
        assert gold is not None and gold.intent == "set_timer"
        assert b"timer" not in gold.transcript_sealed
        assert session.scalars(select(AuditEvent.action)).all() == ["review.gold_set"]


def test_only_a_qa_reviewer_may_make_gold_and_only_from_a_clean_submission(
    store: Store, now: datetime
) -> None:
    queued_item(store)
    queued_item(store)
    ana = reviewer(store, "ana")
    qa = reviewer(store, "qa", role="qa_reviewer")
    skipped = queue.skip(store.db, ana, take(store, ana, now).lease_id, "no_audio", now)
    flagged = submit(
        store, ana, take(store, ana, now), now, Submission(transcript="", flags=("unintelligible",))
    )
    with pytest.raises(PermissionError):
        queue.make_gold(store.db, store.keyring, ana, flagged.id)
    with pytest.raises(GoldRefused):
        queue.make_gold(store.db, store.keyring, qa, skipped.id)
    with pytest.raises(GoldRefused):
        queue.make_gold(store.db, store.keyring, qa, flagged.id)
    with pytest.raises(LookupError):
        queue.make_gold(store.db, store.keyring, qa, "0" * 32)


def test_gold_items_are_handed_out_to_those_who_never_saw_them_and_graded(
    store: Store, now: datetime
) -> None:
    always_gold = WorkbenchPolicy(gold_share=1.0)
    item_id = gold_item(store, now)
    dee = reviewer(store, "dee")
    lease = take(store, dee, now, always_gold)
    assert (lease.review_item_id, lease.kind) == (item_id, "gold")
    annotation = submit(
        store,
        dee,
        lease,
        now,
        Submission(transcript="Set a timer for 10 minutes!", intent="set_timer"),
        always_gold,
    )
    assert annotation.gold_wer == 0.0, "the same words, written differently"
    assert queue.next_task(store.db, dee, always_gold, now) is None, "never the same gold twice"
    eve = reviewer(store, "eve")
    second = take(store, eve, now, always_gold)
    wrong = submit(store, eve, second, now, Submission(transcript="set a timer for two minutes"))
    assert wrong.gold_wer == pytest.approx(1 / 6)
    assert item_status(store, item_id) == "done"


def test_the_reviewer_whose_work_became_gold_is_never_graded_on_it(
    store: Store, now: datetime
) -> None:
    item_id = gold_item(store, now)
    with store.db.read() as session:
        first_id = session.scalars(select(Annotation.staff_id)).one()
        first = Reviewer.of(session.get(StaffUser, first_id))  # type: ignore[arg-type]
    assert queue.next_task(store.db, first, WorkbenchPolicy(gold_share=1.0), now) is None
    assert item_id


def test_gold_is_a_share_of_hand_outs_decided_by_the_draw(store: Store, now: datetime) -> None:
    gold_item(store, now)
    ordinary = queued_item(store)
    share = WorkbenchPolicy(gold_share=0.3)
    dee = reviewer(store, "dee")
    lease = queue.next_task(store.db, dee, share, now, draw=lambda: 0.31)
    assert lease is not None and (lease.review_item_id, lease.kind) == (ordinary, "single")
    queue.release(store.db, dee, lease.lease_id, now)
    lease = queue.next_task(store.db, dee, share, now, draw=lambda: 0.29)
    assert lease is not None and lease.kind == "gold"


def test_a_gold_task_left_to_lapse_is_withdrawn_not_passed_on(store: Store, now: datetime) -> None:
    always_gold = WorkbenchPolicy(gold_share=1.0)
    item_id = gold_item(store, now)
    dee, eve = reviewer(store, "dee"), reviewer(store, "eve")
    lapsed = take(store, dee, now, always_gold)
    later = now + timedelta(minutes=always_gold.lease_minutes + 1)
    fresh = take(store, eve, later, always_gold)
    assert fresh.task_id != lapsed.task_id and fresh.kind == "gold"
    assert task_statuses(store, item_id) == ["done", "withdrawn", "leased"]
