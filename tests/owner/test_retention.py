"""Retention: the clock moves on, and nothing outlives its limit (unless a hold says so)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from earmuff.config import Policy, Settings
from earmuff.config.policy import RetentionPolicy, ReviewPolicy
from earmuff.config.settings import SettingsError
from earmuff.owner.holds import release_legal_hold, set_legal_hold
from earmuff.owner.login import issue_login_link, redeem_login_link
from earmuff.owner.retention import RetentionReport, run_retention, set_raw_retention
from earmuff.owner.transparency import recording_view, transparency_report
from earmuff.store.models import (
    Account,
    Annotation,
    DeletionRequest,
    OwnerLoginLink,
    OwnerSession,
    Recording,
    ReviewItem,
    ReviewTask,
    utcnow,
)
from earmuff.web import create_app
from tests.owner.conftest import Home, World

RAW_DAYS = {"3m": 92, "18m": 548, "policy": 548}


def choose(world: World, home: Home, choice: str) -> None:
    with world.store.db.transaction() as session:
        account = session.get(Account, home.account_id)
        assert account is not None
        account.raw_retention = choice


def assert_nothing_outlives_its_limit(world: World, now: datetime) -> None:
    rules = world.store.settings.policy.retention
    with world.store.db.read() as session:
        rows = session.execute(
            select(Recording.received_at, Recording.status, Account.raw_retention).join(
                Account, Account.id == Recording.account_id
            )
        ).all()
        copies = session.scalars(select(ReviewItem.created_at)).all()
        notes = session.scalars(select(Annotation.submitted_at)).all()
    for received_at, status, choice in rows:
        age = (now - received_at).days
        if status == "discarded":
            assert age < rules.false_wake_tombstones_days
        elif choice != "keep":
            assert age < RAW_DAYS[choice]
    for created_at in copies:
        assert (now - created_at).days < rules.review_items_days
    for submitted_at in notes:
        assert (now - submitted_at).days < rules.review_items_days


def test_raw_recordings_live_as_long_as_their_owner_chose_and_no_longer(world: World) -> None:
    homes = {choice: world.home() for choice in ("3m", "18m", "keep", "policy")}
    for choice, home in homes.items():
        if choice != "policy":
            choose(world, home, choice)
    ids = {choice: home.upload() for choice, home in homes.items()}
    world.run_all()
    start = utcnow()
    for days, gone in ((91, set()), (93, {"3m"}), (547, {"3m"}), (549, {"3m", "18m", "policy"})):
        now = start + timedelta(days=days)
        run_retention(world.store, now)
        assert_nothing_outlives_its_limit(world, now)
        with world.store.db.read() as session:
            left = {c for c, rid in ids.items() if session.get(Recording, rid) is not None}
        assert left == set(ids) - gone, f"after {days} days"
    assert run_retention(world.store, start + timedelta(days=5000)).recordings == 0


def test_review_copies_and_their_annotations_go_at_the_policy_limit(world: World) -> None:
    home = world.home()
    choose(world, home, "keep")
    home.allow()
    recording_id = home.upload()
    world.run(recording_id)
    reviewer = world.staff("qa_reviewer")
    task = world.hand_out(reviewer)
    assert task is not None
    world.annotate(task, reviewer)
    start = utcnow()
    assert run_retention(world.store, start + timedelta(days=182)).review_copies == 0
    report = run_retention(world.store, start + timedelta(days=184))
    assert (report.review_copies, report.annotations, report.recordings) == (1, 1, 0)
    assert_nothing_outlives_its_limit(world, start + timedelta(days=184))
    with world.store.db.read() as session:
        assert session.scalars(select(ReviewTask)).all() == []
        recording = session.get(Recording, recording_id)
        assert recording is not None and recording.status == "stored"
        view = recording_view(session, world.store, home.account_id, recording_id)
    assert view is not None
    (copy,) = view.copies
    assert copy.state == "Deleted at the end of its time limit"
    assert [(r.role, r.intent) for r in copy.reviews] == [("qa_reviewer", "play_music")]
    assert copy.reviews[0].transcript is None, "what the reviewer typed is not kept"


def test_a_shorter_policy_applies_to_copies_made_under_a_longer_one(world: World) -> None:
    home = world.home()
    home.allow()
    world.run(home.upload())
    world.store.settings = dataclasses.replace(
        world.store.settings,
        policy=Policy(
            review=ReviewPolicy(sampling_rate=1.0),
            retention=RetentionPolicy(review_items_days=30),
        ),
    )
    assert run_retention(world.store, utcnow() + timedelta(days=29)).review_copies == 0
    assert run_retention(world.store, utcnow() + timedelta(days=31)).review_copies == 1


def test_false_wake_tombstones_last_thirty_days(world: World) -> None:
    home = world.home()
    home.allow()  # the wake check runs after consent, so only then is a false wake found
    recording_id = home.upload(false_wake=True)
    world.run(recording_id)
    start = utcnow()
    assert run_retention(world.store, start + timedelta(days=29)).tombstones == 0
    assert run_retention(world.store, start + timedelta(days=31)).tombstones == 1
    with world.store.db.read() as session:
        assert session.get(Recording, recording_id) is None


def test_a_legal_hold_suspends_every_deletion_until_it_is_released(world: World) -> None:
    held, free = world.home(), world.home()
    for home in (held, free):
        home.allow()
        world.run(home.upload())
        world.run(home.upload(false_wake=True))
    officer = world.staff("privacy_officer")
    set_legal_hold(world.store, held.account_id, "regulator's inquiry 7", officer)
    later = utcnow() + timedelta(days=1000)
    report = run_retention(world.store, later)
    assert (report.recordings, report.tombstones, report.review_copies) == (1, 1, 1)
    assert report.accounts == {free.account_id} and report.accounts_on_hold == 1
    with world.store.db.read() as session:
        assert len(session.scalars(select(Recording)).all()) == 2
    _, caught_up = release_legal_hold(world.store, held.account_id, officer, "closed", later)
    assert (caught_up.recordings, caught_up.tombstones, caught_up.review_copies) == (1, 1, 1)
    assert_nothing_outlives_its_limit(world, later)


def test_choosing_a_shorter_period_deletes_what_is_older_at_once(world: World) -> None:
    home = world.home()
    recording_id = home.upload()
    later = utcnow() + timedelta(days=100)
    set_raw_retention(world.store, home.account_id, "keep", "test", later)
    assert run_retention(world.store, later + timedelta(days=3000)).recordings == 0
    report = set_raw_retention(world.store, home.account_id, "3m", "test", later)
    assert report.recordings == 1
    with world.store.db.read() as session:
        assert session.get(Recording, recording_id) is None


def test_each_household_gets_a_receipt_for_what_its_time_limit_took(world: World) -> None:
    home = world.home()
    home.allow()
    home.upload()
    home.upload(false_wake=True)
    world.run_all()
    later = utcnow() + timedelta(days=600)
    run_retention(world.store, later)
    with world.store.db.read() as session:
        (receipt,) = session.scalars(select(DeletionRequest)).all()
        report = transparency_report(session, world.store, home.account_id, later)
    assert (receipt.scope, receipt.status) == ("retention", "done")
    assert receipt.summary["deleted"]["recordings"] == 1
    assert receipt.summary["deleted"]["false_wake_tombstones"] == 1
    assert report.totals.deleted_at_time_limit == 2


def test_sign_in_links_and_sessions_do_not_outlive_their_minutes(world: World) -> None:
    home = world.home()
    rules = world.store.settings.policy.owner
    with world.store.db.transaction() as session:
        token, _ = issue_login_link(session, home.external_id, rules)
        issue_login_link(session, home.external_id, rules)
        redeem_login_link(session, token, rules, "api")
    report = run_retention(world.store, utcnow() + timedelta(minutes=rules.session_minutes + 1))
    assert report.expired_sign_ins == 3
    with world.store.db.read() as session:
        assert session.scalars(select(OwnerLoginLink)).all() == []
        assert session.scalars(select(OwnerSession)).all() == []


def test_files_a_stage_left_behind_a_deleted_recording_are_swept(world: World) -> None:
    home = world.home()
    home.allow()
    recording_id = home.upload()
    world.run(recording_id)
    with world.store.db.transaction() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None
        recording.key_sealed = None  # as if deleted while a stage was still writing
    report: RetentionReport = run_retention(world.store)
    assert report.orphan_files == 4
    assert list(world.store.blobs.keys(prefix=f"derived/{recording_id}/")) == []


def expired_link(world: World, home: Home) -> None:
    with world.store.db.transaction() as session:
        issue_login_link(
            session,
            home.external_id,
            world.store.settings.policy.owner,
            utcnow() - timedelta(days=1),
        )


def links_left(world: World) -> int:
    with world.store.db.read() as session:
        return len(session.scalars(select(OwnerLoginLink)).all())


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_the_server_enforces_retention_at_start_and_then_on_its_interval(world: World) -> None:
    home = world.home()
    expired_link(world, home)
    with TestClient(create_app(store=world.store, retention_interval_s=0.3)):
        assert wait_for(lambda: links_left(world) == 0), "the first run happens at start"
        expired_link(world, home)
        assert links_left(world) == 1
        assert wait_for(lambda: links_left(world) == 0), "and again an interval later"


def test_the_retention_interval_is_a_setting(tmp_path: Path) -> None:
    env = {"EARMUFF_RETENTION_INTERVAL_S": "90"}
    assert Settings.for_workspace(tmp_path, env=env).retention_interval_s == 90
    assert Settings.for_workspace(tmp_path, env={}).retention_interval_s == 3600
    for wrong in ("0", "soon"):
        with pytest.raises(SettingsError, match="EARMUFF_RETENTION_INTERVAL_S"):
            Settings.for_workspace(tmp_path, env={"EARMUFF_RETENTION_INTERVAL_S": wrong})
