"""Transparency: what happened to each recording, and every human review, in plain words."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from earmuff.owner.disclosure import Disclosures, policy_figures
from earmuff.owner.export import export_zip
from earmuff.owner.transparency import list_recordings, recording_view, transparency_report
from earmuff.review.queue import Reviewer, release
from earmuff.store.crypto import MasterKey
from earmuff.store.models import Recording, ReviewItem, VaultEntry, utcnow
from earmuff.store.vault import (
    account_tag,
    index_untagged,
    items_of_account,
    items_of_recordings,
    recording_tag,
)
from tests.owner.conftest import World


def test_each_recording_says_whether_it_was_stored_discarded_or_sampled(world: World) -> None:
    home = world.home()
    silent = home.upload()
    world.run(silent)
    home.allow()
    false_wake = home.upload(false_wake=True)
    reviewed = home.upload()
    world.run_all()
    reviewer = world.staff("annotator")
    task = world.hand_out(reviewer)
    assert task is not None
    at = utcnow()
    world.annotate(task, reviewer, transcript="play the morning news for [PERSON]", at=at)
    with world.store.db.read() as session:
        views = {
            rid: recording_view(session, world.store, home.account_id, rid)
            for rid in (silent, false_wake, reviewed)
        }
        item = session.scalars(select(ReviewItem)).one()
    quiet, dropped, heard = views[silent], views[false_wake], views[reviewed]
    assert quiet is not None and dropped is not None and heard is not None
    assert quiet.summary.state == "Stored" and not quiet.summary.sampled
    assert [s.words for s in quiet.steps] == [
        "Not eligible for review: you had not said yes",
        "The wake word was confirmed",
    ], "a recording nobody may review still gets the wake check"
    assert quiet.copies == () and quiet.transcript is None

    assert dropped.summary.state.startswith("Deleted at once: it did not start with the wake word")
    assert not dropped.summary.audio_stored
    assert dropped.steps[-1].words == "No wake word: the audio was deleted at once"

    assert heard.summary.sampled and heard.summary.human_reviews == 1
    assert heard.transcript == "alexa play the morning news for jane"
    (copy,) = heard.copies
    assert copy.state == "Reviewed"
    assert copy.masked_transcript == "alexa play the morning news for [PERSON]"
    assert copy.kept_until == min(item.expires_at, heard.summary.kept_until)  # type: ignore[type-var]
    (review,) = copy.reviews
    assert (review.role, review.intent, review.slots) == ("annotator", "play_music", ("song",))
    assert review.at == at and review.transcript == "play the morning news for [PERSON]"
    steps = [s.stage for s in heard.steps]
    assert steps == [
        "consent",
        "wake",
        "sample",
        "transcribe",
        "pii",
        "anonymize",
        "screen",
        "review_item",
    ]


def test_a_recording_being_reviewed_now_says_so_by_role(world: World) -> None:
    home = world.home()
    home.allow()
    recording_id = home.upload()
    world.run(recording_id)
    world.hand_out(world.staff("qa_reviewer"))
    with world.store.db.read() as session:
        view = recording_view(session, world.store, home.account_id, recording_id)
    assert view is not None
    assert view.copies[0].state == "Being reviewed now by a quality reviewer"


def test_an_owner_sees_only_their_own_recordings(world: World) -> None:
    home, other = world.home(), world.home()
    theirs = other.upload()
    home.upload()
    with world.store.db.read() as session:
        rows, total = list_recordings(session, world.store, home.account_id)
        assert recording_view(session, world.store, home.account_id, theirs) is None
    assert total == 1 and theirs not in [r.id for r in rows]


def test_the_report_counts_each_month(world: World) -> None:
    home = world.home()
    home.allow()
    for _ in range(3):
        home.upload()
    home.upload(false_wake=True)
    world.run_all()
    reviewer = world.staff()
    for _ in range(2):
        task = world.hand_out(reviewer)
        assert task is not None
        world.annotate(task, reviewer)
    last_month = utcnow() - timedelta(days=40)
    with world.store.db.transaction() as session:
        first = session.scalars(select(Recording).order_by(Recording.received_at)).first()
        assert first is not None
        first.received_at = last_month
    home.stop()
    with world.store.db.read() as session:
        report = transparency_report(session, world.store, home.account_id, utcnow())
    assert report.review.headline == "Nobody listens to your recordings."
    assert [m.month for m in report.months] == sorted(
        {utcnow().strftime("%Y-%m"), last_month.strftime("%Y-%m")}, reverse=True
    )
    total = report.totals
    assert (total.recordings, total.false_wakes, total.sampled) == (4, 1, 3)
    assert (total.sent_for_review, total.human_reviews) == (3, 2)
    assert total.reviews_by_role == {"annotator": 2}
    assert total.withdrawn_from_review == 3
    assert report.months[-1].recordings == 1


def test_the_export_holds_the_data_and_the_audio(world: World) -> None:
    home = world.home()
    home.allow()
    recording_id = home.upload()
    world.run(recording_id)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(export_zip(world.store, home.account_id))))
    data = json.loads(archive.read("data.json"))
    assert data["account"]["account_number"] == home.external_id
    assert data["account"]["first_name"] == "Jane"
    assert data["devices"][0]["serial"] == home.serial
    (consent,) = data["consent_history"]
    assert consent["human_review"] == "granted" and "listen" in consent["disclosure_text"]
    (recording,) = data["recordings"]
    assert recording["summary"]["id"] == recording_id
    assert recording["transcript"] == "alexa play the morning news for jane"
    (wav,) = [name for name in archive.namelist() if name.startswith("audio/")]
    assert archive.read(wav).startswith(b"RIFF")


def test_the_vault_finds_an_accounts_copies_by_keyed_tags_alone(world: World) -> None:
    home, other = world.home(), world.home()
    for h in (home, other):
        h.allow()
        world.run(h.upload())
    store = world.store
    with store.db.read() as session:
        mine = items_of_account(session, store.keyring, home.account_id)
        entries = session.scalars(select(VaultEntry)).all()
    assert len(mine) == 1 and len(entries) == 2
    tags = {e.account_tag for e in entries} | {e.recording_tag for e in entries}
    assert home.account_id not in str(tags)
    stranger = MasterKey.from_text("11" * 32)
    from earmuff.store.crypto import KeyRing

    assert account_tag(KeyRing(stranger), home.account_id) not in tags, "useless without the key"
    assert account_tag(store.keyring, home.account_id) in tags


def test_entries_from_before_the_index_are_indexed_once(world: World) -> None:
    home = world.home()
    home.allow()
    recording_id = home.upload()
    world.run(recording_id)
    store = world.store
    with store.db.transaction() as session:
        session.execute(update(VaultEntry).values(account_tag=None, recording_tag=None))
    with store.db.transaction() as session:
        assert items_of_account(session, store.keyring, home.account_id) == []
        assert index_untagged(session, store.keyring) == 1
        assert index_untagged(session, store.keyring) == 0
        (item,) = items_of_account(session, store.keyring, home.account_id)
        assert items_of_recordings(session, store.keyring, [recording_id]) == {recording_id: [item]}
        entry = session.get(VaultEntry, item)
        assert entry is not None and entry.recording_tag == recording_tag(
            store.keyring, recording_id
        )


def test_disclosure_versions_follow_natural_order_and_quote_the_policy(
    world: World, tmp_path: Path
) -> None:
    for version in ("disclosure-2", "disclosure-10", "disclosure-9"):
        (tmp_path / f"{version}.txt").write_text(f"{version}: $sampling, $review_days days")
    texts = Disclosures(tmp_path)
    policy = world.store.settings.policy
    assert texts.versions == ["disclosure-2", "disclosure-9", "disclosure-10"]
    current = texts.current(policy)
    assert current.version == "disclosure-10"
    assert current.text == "disclosure-10: about 100 % of recordings, 183 days"
    assert policy_figures(policy)["cap"] == "10000"
    (tmp_path / "Bad Name.txt").write_text("x")
    with pytest.raises(LookupError):
        Disclosures(tmp_path)


def test_timestamps_shown_are_the_ones_recorded(world: World) -> None:
    home = world.home()
    when = datetime(2026, 11, 3, 8, 15, tzinfo=UTC)
    recording_id = home.upload(captured_at=when)
    with world.store.db.read() as session:
        view = recording_view(session, world.store, home.account_id, recording_id)
    assert view is not None and view.summary.captured_at == when


def test_a_hand_out_that_ended_without_a_word_still_counts_as_a_listen(world: World) -> None:
    """A reviewer who took the copy and stopped for the day may have heard it: the owner
    is told, though nothing was written."""
    home = world.home()
    home.allow()
    recording_id = home.upload()
    world.run_all()
    reviewer = world.staff("annotator")
    lease = world.hand_out(reviewer)
    assert lease is not None
    assert release(world.store.db, Reviewer.of(reviewer), lease.lease_id, utcnow())
    with world.store.db.read() as session:
        view = recording_view(session, world.store, home.account_id, recording_id)
    assert view is not None and view.summary.human_reviews == 1
    (copy,) = view.copies
    assert [(r.role, r.outcome) for r in copy.reviews] == [("annotator", "heard_unfinished")]
