"""Consent: a yes records the exact text read; a no takes effect at once."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from earmuff.audit import verify
from earmuff.owner import consent as consent_service
from earmuff.owner.consent import review_status
from earmuff.owner.disclosure import DisclosureError, Disclosures
from earmuff.owner.holds import set_legal_hold
from earmuff.pipeline.stage import artifact_key
from earmuff.store.models import (
    Account,
    Annotation,
    AuditEvent,
    ConsentChange,
    DisclosureText,
    Recording,
    ReviewItem,
    ReviewTask,
    VaultEntry,
)
from earmuff.store.vault import items_of_account
from tests.owner.conftest import World


def count(world: World, model: type) -> int:
    with world.store.db.read() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_yes_records_the_version_and_the_exact_text_that_was_read(world: World) -> None:
    home = world.home()
    home.allow()
    shown = Disclosures().current(world.store.settings.policy)
    with world.store.db.read() as session:
        change = session.scalars(select(ConsentChange)).one()
        text = session.get(DisclosureText, change.disclosure_sha256)
    assert change.human_review == "granted" and change.source == "test"
    assert change.disclosure_version == shown.version
    assert text is not None and text.text == shown.text
    assert "1 in" not in text.text and "100 % of recordings" in text.text
    assert "at most 183 days" in text.text


def test_the_first_screen_says_in_plain_words_whether_people_may_listen(world: World) -> None:
    home = world.home()
    policy = world.store.settings.policy

    def headline() -> str:
        with world.store.db.read() as session:
            account = session.get(Account, home.account_id)
            assert account is not None
            return review_status(session, policy, account).headline

    assert headline() == "Nobody listens to your recordings."
    home.allow()
    assert headline() == "People may listen to a few of your recordings."
    home.stop()
    assert headline() == "Nobody listens to your recordings."


def test_withdrawing_deletes_every_waiting_and_reviewed_copy_with_its_tasks_and_leases(
    world: World,
) -> None:
    home, other = world.home(), world.home()
    home.allow()
    other.allow()
    mine = [home.upload() for _ in range(3)]
    for recording_id in [*mine, other.upload()]:
        world.run(recording_id)
    reviewer = world.staff()
    for _ in range(4):
        task = world.hand_out(reviewer)
        assert task is not None
        world.annotate(task, reviewer)
    world.run(other.upload())
    world.run(home.upload())
    world.hand_out(reviewer)  # one copy is leased right now
    with world.store.db.read() as session:
        theirs = items_of_account(session, world.store.keyring, other.account_id)
        audio = {i.id: i.audio_blob_key or "" for i in session.scalars(select(ReviewItem))}
    assert len(audio) == 6 and len(theirs) == 2

    result = home.stop()

    assert result.withdrawn + result.reviewed_deleted == 4
    with world.store.db.read() as session:
        assert sorted(session.scalars(select(ReviewItem.id))) == theirs
        assert sorted(session.scalars(select(VaultEntry.review_item_id))) == theirs
        assert set(session.scalars(select(ReviewTask.review_item_id))) <= set(theirs)
        assert set(session.scalars(select(Annotation.review_item_id))) <= set(theirs)
        statuses = set(session.scalars(select(Recording.status).where(Recording.id.in_(mine))))
    assert statuses == {"stored"}
    for item_id, key in audio.items():
        assert world.store.blobs.exists(key) == (item_id in theirs)
    for recording_id in mine:
        assert list(world.store.blobs.keys(prefix=artifact_key(recording_id, ""))) == []


def test_the_reviewed_copies_are_told_apart_from_those_nobody_heard(world: World) -> None:
    home = world.home()
    home.allow()
    for _ in range(3):
        world.run(home.upload())
    reviewer = world.staff()
    task = world.hand_out(reviewer)
    assert task is not None
    world.annotate(task, reviewer)
    result = home.stop()
    assert (result.withdrawn, result.reviewed_deleted, result.held) == (2, 1, False)


def test_a_recording_in_the_pipeline_when_consent_is_withdrawn_never_becomes_a_copy(
    world: World,
) -> None:
    home = world.home()
    home.allow()
    recording_id = home.upload()
    stages = world.runner.stages
    world.runner.stages = stages[:-1]
    world.run(recording_id)  # transcribed, masked, disguised: ready to be queued
    assert list(world.store.blobs.keys(prefix=artifact_key(recording_id, "")))
    home.stop()
    world.runner.stages = stages
    reports = world.run(recording_id)
    assert reports[-1].decision == "withdrawn_before_review:no_consent"
    assert count(world, ReviewItem) == 0
    assert list(world.store.blobs.keys(prefix=artifact_key(recording_id, ""))) == []


def test_under_a_legal_hold_withdrawn_copies_leave_every_queue_but_stay(world: World) -> None:
    home = world.home()
    home.allow()
    for _ in range(2):
        world.run(home.upload())
    reviewer = world.staff()
    task = world.hand_out(reviewer)
    assert task is not None
    set_legal_hold(
        world.store, home.account_id, "litigation 2026-17", world.staff("privacy_officer")
    )
    result = home.stop()
    assert result.held and result.withdrawn == 2
    with world.store.db.read() as session:
        assert set(session.scalars(select(ReviewItem.status))) == {"withdrawn"}
        tasks = session.scalars(select(ReviewTask)).all()
    assert {t.status for t in tasks} == {"withdrawn"}
    assert all(t.lease_id is None and t.lease_holder_id is None for t in tasks)
    assert world.hand_out(reviewer) is None


def test_a_yes_needs_the_text_now_in_force(world: World) -> None:
    texts = Disclosures()
    policy = world.store.settings.policy
    current = texts.current(policy)
    with pytest.raises(DisclosureError):
        texts.shown(current.version, "0" * 64, policy)
    with pytest.raises(DisclosureError):
        texts.shown("disclosure-0", None, policy)
    assert texts.shown(current.version, current.sha256, policy) == current


def test_a_childs_profile_cannot_be_switched_to_review(world: World) -> None:
    home = world.home()
    with world.store.db.transaction() as session:
        account = session.get(Account, home.account_id)
        assert account is not None
        account.is_child_profile = True
    with pytest.raises(consent_service.ConsentError, match="child"):
        home.allow()


def test_every_change_is_audited_and_the_chain_holds(world: World) -> None:
    home = world.home()
    home.allow()
    world.run(home.upload())
    home.stop()
    with world.store.db.read() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
        events = verify(session)
        history = session.scalars(
            select(ConsentChange.human_review).order_by(ConsentChange.id)
        ).all()
    assert actions[-2:] == ["consent.granted", "consent.withdrawn"]
    assert events == len(actions)
    assert history == ["granted", "withdrawn"]


def test_under_opt_out_silence_means_people_may_listen(world: World) -> None:
    home = world.home()
    policy = world.store.settings.policy.model_copy(
        update={
            "review": world.store.settings.policy.review.model_copy(update={"consent": "opt-out"})
        }
    )
    with world.store.db.read() as session:
        account = session.get(Account, home.account_id)
        assert account is not None
        status = review_status(session, policy, account)
    assert status.may_listen and status.headline == "People may listen to a few of your recordings."
    assert status.explanation.startswith("You have not said no")
    assert "Nobody listens unless you say yes" not in Disclosures().current(policy).text


def test_a_withdrawal_racing_the_last_pipeline_step_never_leaves_a_copy(world: World) -> None:
    """The review-item stage and a withdrawal both take the account's lock, so whichever
    commits second sees the other: either the copy is made and then deleted, or the
    stage finds consent gone. Raced on threads, many times."""
    home = world.home()
    stages = world.runner.stages
    for _ in range(8):
        home.allow()
        recording_id = home.upload()
        world.runner.stages = stages[:-1]
        world.run(recording_id)
        world.runner.stages = stages
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=_together, args=(barrier, world.run, recording_id)),
            threading.Thread(target=_together, args=(barrier, home.stop)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with world.store.db.read() as session:
            assert items_of_account(session, world.store.keyring, home.account_id) == []
            assert session.scalar(select(func.count()).select_from(ReviewItem)) == 0


def _together(barrier: threading.Barrier, action: Callable[..., object], *args: object) -> None:
    barrier.wait()
    action(*args)
