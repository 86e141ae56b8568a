"""Deletion really deletes: one recording, a range, everything; a receipt for each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from earmuff.audit import verify
from earmuff.config.policy import WorkbenchPolicy
from earmuff.owner.deletion import (
    DeletionError,
    NotFound,
    delete_everything,
    delete_range,
    delete_recording,
    receipt_hash,
)
from earmuff.owner.holds import release_legal_hold, set_legal_hold
from earmuff.review.escalation import open_case
from earmuff.store import Store
from earmuff.store.accounts import first_name
from earmuff.store.crypto import KeyDestroyed
from earmuff.store.models import (
    Account,
    AccountKey,
    Annotation,
    AuditEvent,
    Base,
    DeletionRequest,
    Device,
    GoldAnswer,
    IdempotencyRecord,
    Recording,
    ReviewItem,
    SafetyCase,
    SecondListen,
    VaultEntry,
    utcnow,
)
from earmuff.store.recordings import read_audio
from earmuff.store.review_items import read_review_audio
from tests.audio_samples import wav
from tests.owner.conftest import Home, World

SECRET_WORDS = "zanzibar quokka marmalade xylophone periwinkle"


def day(n: int) -> datetime:
    return datetime(2026, 11, n, 12, 0, tzinfo=UTC)


def database_bytes(store: Store) -> bytes:
    """Everything the database holds: on SQLite its files (pages, free pages, WAL),
    on PostgreSQL every value of every table."""
    url = make_url(store.db.url)
    if url.get_backend_name() == "sqlite":
        path = Path(str(url.database))
        files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    chunks = []
    with store.db.read() as session:
        for table in [*Base.metadata.sorted_tables]:
            for row in session.execute(text(f'SELECT * FROM "{table.name}"')):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)


def blob_bytes(store: Store) -> bytes:
    root = store.settings.blob_dir
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def holds_any_kib_of(haystack: bytes, audio: bytes) -> bool:
    """Whether any 1 KiB run of ``audio`` is in ``haystack``: such a run always contains
    one of the 512-byte blocks at multiples of 512, so checking those is enough."""
    return any(audio[k : k + 512] in haystack for k in range(0, len(audio) - 511, 512))


def reviewed_recording(world: World, home: Home, words: str) -> str:
    recording_id = home.upload(text=words, audio=wav(2.0, seed=hash(words) % 1000))
    world.run(recording_id)
    copy_id = _copy_of(world.store, recording_id)
    while True:  # an overlap item has several tasks: every one is reviewed
        reviewer = world.staff()
        lease = world.hand_out(reviewer)
        if lease is None:
            return recording_id
        text = words if lease.review_item_id == copy_id else "ordinary words"
        world.annotate(lease, reviewer, transcript=text)


def test_after_deleting_a_recording_no_kib_of_its_audio_and_no_word_of_it_remains(
    world: World,
) -> None:
    store = world.store
    home = world.home()
    home.allow()
    kept = reviewed_recording(world, home, "ordinary words about the weather")
    doomed = reviewed_recording(world, home, SECRET_WORDS)
    with store.db.read() as session:
        recording = session.get(Recording, doomed)
        assert recording is not None
        raw_audio = read_audio(session, store.keyring, store.blobs, recording)
        (copy,) = [
            item
            for item in session.scalars(select(ReviewItem))
            if item.audio_blob_key and item.id != _copy_of(store, kept)
        ]
        copy_audio = read_review_audio(store.keyring, store.blobs, copy)
        sealed = [
            recording.key_sealed,
            copy.key_sealed,
            copy.transcript_sealed,
            session.scalar(
                select(VaultEntry.recording_sealed).where(VaultEntry.review_item_id == copy.id)
            ),
            session.scalar(
                select(Annotation.transcript_sealed).where(Annotation.review_item_id == copy.id)
            ),
            *[
                store.blobs.get(key)
                for key in list(store.blobs.keys())
                if doomed in key or copy.id in key
            ],
        ]
        kept_key = session.get(Recording, kept).key_sealed  # type: ignore[union-attr]
    assert all(value for value in sealed) and len(sealed) >= 8
    assert any(value in database_bytes(store) + blob_bytes(store) for value in sealed if value)

    delete_recording(store, home.account_id, doomed, "test")

    database, blobs = database_bytes(store), blob_bytes(store)
    for haystack in (database, blobs):
        assert not holds_any_kib_of(haystack, raw_audio)
        assert not holds_any_kib_of(haystack, copy_audio)
        for word in SECRET_WORDS.split():
            assert word.encode() not in haystack.lower()
        for value in sealed:
            assert value is not None and value not in haystack, "a sealed value survived"
    assert kept_key is not None and kept_key in database, "the scan sees what is still there"


def _copy_of(store: Store, recording_id: str) -> str:
    from earmuff.store.vault import items_of_recordings

    with store.db.read() as session:
        return items_of_recordings(session, store.keyring, [recording_id])[recording_id][0]


def test_a_receipt_says_what_went_and_its_hash_is_in_the_audit_log(world: World) -> None:
    home = world.home()
    home.allow()
    recording_id = reviewed_recording(world, home, "play something")
    with world.store.db.read() as session:
        reviews = session.scalar(select(func.count()).select_from(Annotation))
    assert reviews in (1, world.store.settings.policy.workbench.overlap_k)  # overlap: k reviews
    receipt = delete_recording(world.store, home.account_id, recording_id, "test")
    assert receipt.status == "done"
    assert receipt.deleted == {
        "recordings": 1,
        "false_wake_tombstones": 0,
        "review_copies": 1,
        "human_annotations": reviews,
        "stored_files": 6,  # the audio, its copy, transcript, redaction, disguised audio, screen
    }
    with world.store.db.read() as session:
        row = session.get(DeletionRequest, receipt.id)
        assert row is not None and receipt_hash(row) == receipt.sha256
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "deletion.completed")
        ).one()
        verify(session)
        assert session.get(Recording, recording_id) is None
        answers = session.scalar(select(func.count()).select_from(IdempotencyRecord))
    assert event.details["receipt_sha256"] == receipt.sha256
    assert event.subject == f"account:{home.account_id}"
    assert answers == 0


def test_a_date_range_takes_exactly_the_days_asked_for(world: World) -> None:
    home = world.home()
    ids = {n: home.upload(captured_at=day(n)) for n in (1, 2, 3, 4)}
    world.run_all()
    receipt = delete_range(world.store, home.account_id, day(2), day(4), "test")
    with world.store.db.read() as session:
        left = set(session.scalars(select(Recording.id)))
    assert left == {ids[1], ids[4]}
    assert receipt.deleted["recordings"] == 2
    with pytest.raises(DeletionError):
        delete_range(world.store, home.account_id, day(4), day(2), "test")


def test_nobody_deletes_another_households_recording(world: World) -> None:
    home, other = world.home(), world.home()
    theirs = other.upload()
    with pytest.raises(NotFound):
        delete_recording(world.store, home.account_id, theirs, "test")
    with world.store.db.read() as session:
        assert session.get(Recording, theirs) is not None


def test_deleting_everything_destroys_the_key_the_devices_and_the_name(world: World) -> None:
    store = world.store
    home, neighbour = world.home(), world.home(name="Ravi")
    home.allow()
    neighbour.allow()
    reviewed_recording(world, home, "one")
    home.upload(false_wake=True)
    world.run_all()
    theirs = reviewed_recording(world, neighbour, "two")
    receipt = delete_everything(store, home.account_id, "test")
    assert receipt.deleted["recordings"] == 1 and receipt.deleted["false_wake_tombstones"] == 1
    with store.db.read() as session:
        account = session.get(Account, home.account_id)
        key = session.get(AccountKey, home.account_id)
        assert account is not None and account.deleted_at is not None
        assert account.first_name_sealed is None
        assert key is not None and key.wrapped_key is None and key.destroyed_at is not None
        with pytest.raises(KeyDestroyed):
            store.keyring.account_key(session, home.account_id)
        assert (
            session.scalars(select(Device).where(Device.account_id == home.account_id)).all() == []
        )
        assert (
            session.scalars(select(Recording).where(Recording.account_id == home.account_id)).all()
            == []
        )
        assert session.get(Recording, theirs) is not None
        other = session.get(Account, neighbour.account_id)
        assert other is not None and first_name(session, store.keyring, other) == "Ravi"
        assert session.scalar(select(func.count()).select_from(ReviewItem)) == 1
    with pytest.raises(DeletionError, match="already"):
        delete_everything(store, home.account_id, "test")


def test_under_a_legal_hold_a_deletion_waits_and_happens_when_the_hold_ends(world: World) -> None:
    home = world.home()
    recording_id = home.upload()
    officer = world.staff("privacy_officer")
    set_legal_hold(world.store, home.account_id, "court order 2026-451", officer)
    receipt = delete_recording(world.store, home.account_id, recording_id, "test")
    assert receipt.status == "held" and receipt.completed_at is None
    with world.store.db.read() as session:
        assert session.get(Recording, recording_id) is not None
    _, report = release_legal_hold(world.store, home.account_id, officer, "case closed")
    assert report.held_requests_done == 1
    with world.store.db.read() as session:
        assert session.get(Recording, recording_id) is None
        row = session.get(DeletionRequest, receipt.id)
        assert row is not None and row.status == "done" and row.receipt_sha256


def test_deleting_a_copy_takes_its_gold_answer_and_second_listens_but_keeps_the_safety_case(
    world: World,
) -> None:
    home = world.home()
    home.allow()
    recording_id = reviewed_recording(world, home, "help me please")
    officer = world.staff("safety_officer")
    with world.store.db.transaction() as session:
        item = session.scalars(select(ReviewItem)).one()
        session.add(
            GoldAnswer(review_item_id=item.id, transcript_sealed=b"x", created_by_id=officer.id)
        )
        session.add(
            SecondListen(
                review_item_id=item.id,
                locale="en-US",
                start_s=0.0,
                end_s=1.0,
                requested_by_id=officer.id,
            )
        )
        open_case(session, item.id, "possible_crime", None, officer, WorkbenchPolicy(), utcnow())
    delete_recording(world.store, home.account_id, recording_id, "test")
    with world.store.db.read() as session:
        assert session.scalars(select(GoldAnswer)).all() == []
        assert session.scalars(select(SecondListen)).all() == []
        (case,) = session.scalars(select(SafetyCase)).all()
    assert case.review_item_id is None and case.reason == "possible_crime"
