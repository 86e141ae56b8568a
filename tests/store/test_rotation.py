"""Master-key rotation: the old key alone opens nothing, the new one opens every live
account, a deleted account stays closed under either, and an interrupted rotation
resumes. Pinned purpose keys survive it unchanged."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text

from earmuff.config import Settings
from earmuff.owner.deletion import delete_everything
from earmuff.pipeline.review_item import OVERLAP_KEY_PURPOSE
from earmuff.pipeline.sampling import SAMPLING_KEY_PURPOSE
from earmuff.store import Store, open_store
from earmuff.store import rotation as rotation_module
from earmuff.store.accounts import first_name, register_device
from earmuff.store.crypto import (
    PINNED_PURPOSES,
    PSEUDONYM_PURPOSE,
    WATERMARK_PURPOSE,
    CryptoError,
    KeyDestroyed,
    KeyRing,
    MasterKey,
    MasterKeyError,
    parse_master_keys,
    unseal,
    watermark_key,
)
from earmuff.store.models import Account, AccountKey, PurposeKey, ReviewItem, utcnow
from earmuff.store.review_items import (
    REVIEW_ITEMS_PURPOSE,
    NewReviewItem,
    read_review_transcript,
    write_review_audio,
)
from earmuff.store.rotation import RotationError, rotate_master_key
from earmuff.store.staff import STAFF_SECRETS_PURPOSE, create_staff, totp_secret
from earmuff.store.vault import INDEX_PURPOSE, VAULT_PURPOSE
from earmuff.web.signed_urls import PURPOSE as SIGNED_URL_PURPOSE
from tests.audio_samples import wav


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.for_workspace(tmp_path / "ws", env={})


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    yield opened
    opened.close()


def keys_in_file(settings: Settings) -> list[MasterKey]:
    return parse_master_keys(settings.master_key_file.read_text())


def add_account(store: Store, number: str, name: str, serial: str) -> str:
    with store.db.transaction() as session:
        device, _ = register_device(session, store.keyring, number, name, serial)
        return device.account_id


def add_item(store: Store, words: str) -> str:
    item = NewReviewItem(
        audio_wav=wav(0.5),
        masked_transcript=words,
        locale="en-US",
        duration_s=0.5,
        policy_version="test",
        model_versions={},
        sensitive_category=None,
        expires_at=utcnow(),
    )
    row = write_review_audio(store.keyring, store.blobs, item)
    with store.db.transaction() as session:
        session.add(row)
    return row.id


def backup(store: Store, settings: Settings, name: str) -> Path:
    store.db.scrub()
    copy = settings.workspace.parent / name
    shutil.copy(settings.workspace / "earmuff.db", copy)
    return copy


def rows_of(database: Path, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def test_the_pinned_purposes_are_the_ones_the_modules_use() -> None:
    used = {
        VAULT_PURPOSE,
        INDEX_PURPOSE,
        STAFF_SECRETS_PURPOSE,
        WATERMARK_PURPOSE,
        SIGNED_URL_PURPOSE,
        SAMPLING_KEY_PURPOSE,
        OVERLAP_KEY_PURPOSE,
        PSEUDONYM_PURPOSE,
    }
    assert set(PINNED_PURPOSES) == used
    assert REVIEW_ITEMS_PURPOSE not in PINNED_PURPOSES


def test_rotation_leaves_the_old_key_useless_and_the_new_one_opening_every_live_account(
    store: Store, settings: Settings
) -> None:
    old = keys_in_file(settings)[0]
    live = add_account(store, "ACC-LIVE", "Jane", "SN-LIVE")
    gone = add_account(store, "ACC-GONE", "Ravi", "SN-GONE")
    item = add_item(store, "play the news")
    with store.db.transaction() as session:
        staff = create_staff(session, store.keyring, "ana.k", "annotator")
    marks = watermark_key(store.keyring.master)
    before_deletion = backup(store, settings, "before-deletion.db")
    delete_everything(store, gone, "owner")

    report = rotate_master_key(store.db, store.keyring, settings.master_key_file, grace_s=0)

    [new] = keys_in_file(settings)
    assert new.key_id == report.new_key_id != old.key_id
    assert report.retired_key_ids == (old.key_id,)
    assert report.account_keys == 1 and report.review_items == 1
    assert report.purpose_keys == len(PINNED_PURPOSES)

    reopened = open_store(settings)
    try:
        with reopened.db.read() as session:
            account = session.get(Account, live)
            assert account is not None
            assert first_name(session, reopened.keyring, account) == "Jane"
            row = session.get(ReviewItem, item)
            assert row is not None
            assert read_review_transcript(reopened.keyring, row) == "play the news"
            user = session.get(type(staff.user), staff.user.id)
            assert user is not None
            assert totp_secret(reopened.keyring, user) == staff.totp_secret
            with pytest.raises(KeyDestroyed):
                reopened.keyring.account_key(session, gone)
            wrapped = session.scalars(select(AccountKey).where(AccountKey.wrapped_key.is_not(None)))
            purpose_rows = list(session.scalars(select(PurposeKey)))
            item_key = row.key_sealed
            assert item_key is not None
            old_ring = KeyRing(old)
            for key_row in wrapped:
                assert key_row.wrapped_key is not None
                with pytest.raises(MasterKeyError):
                    old_ring.unwrap(key_row.account_id, key_row.wrapped_key, key_row.master_key_id)
                with pytest.raises(CryptoError):
                    unseal(old.key, key_row.wrapped_key, b"earmuff account key|" + live.encode())
            for purpose_row in purpose_rows:
                with pytest.raises(CryptoError):
                    unseal(
                        old.key,
                        purpose_row.wrapped_key,
                        b"earmuff purpose key|" + purpose_row.purpose.encode(),
                    )
            context = f"earmuff field|review_items.key|{item}".encode()
            with pytest.raises(CryptoError):
                unseal(old.derive_fresh(REVIEW_ITEMS_PURPOSE), item_key, context)
        assert watermark_key(reopened.keyring.master) == marks, "pinned: leaks stay traceable"
    finally:
        reopened.close()

    # A backup from before the deletion, with the new live key: the deleted account's
    # wrapped key was never wrapped under the new key, and the review copy is closed.
    [(wrapped_gone, key_id)] = rows_of(
        before_deletion,
        f"SELECT wrapped_key, master_key_id FROM account_keys WHERE account_id = '{gone}'",
    )
    assert isinstance(wrapped_gone, bytes) and key_id == old.key_id
    with pytest.raises(MasterKeyError):
        KeyRing(new).unwrap(gone, wrapped_gone, str(key_id))
    with pytest.raises(CryptoError):
        unseal(new.key, wrapped_gone, b"earmuff account key|" + gone.encode())
    [(old_item_key,)] = rows_of(
        before_deletion, f"SELECT key_sealed FROM review_items WHERE id = '{item}'"
    )
    assert isinstance(old_item_key, bytes)
    with pytest.raises(CryptoError):
        unseal(new.derive_fresh(REVIEW_ITEMS_PURPOSE), old_item_key, context)


def test_a_running_process_follows_the_rotation_without_a_restart(
    store: Store, settings: Settings
) -> None:
    live = add_account(store, "ACC-1", "Jane", "SN-1")
    other = open_store(settings)
    try:
        rotate_master_key(other.db, other.keyring, settings.master_key_file, grace_s=0)
    finally:
        other.close()
    [new] = keys_in_file(settings)
    assert store.keyring.master.key_id == new.key_id
    with store.db.read() as session:
        account = session.get(Account, live)
        assert account is not None
        assert first_name(session, store.keyring, account) == "Jane"
    later = add_account(store, "ACC-2", "Ravi", "SN-2")
    with store.db.read() as session:
        row = session.get(AccountKey, later)
        assert row is not None and row.master_key_id == new.key_id


def test_an_interrupted_rotation_can_be_run_again(
    store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = add_account(store, "ACC-1", "Jane", "SN-1")
    item = add_item(store, "turn the lights off")
    [old] = keys_in_file(settings)

    def crash(*_args: object) -> tuple[int, int, int]:
        raise RuntimeError("power cut")

    monkeypatch.setattr(rotation_module, "_rewrap_pass", crash)
    with pytest.raises(RuntimeError):
        rotate_master_key(store.db, store.keyring, settings.master_key_file, grace_s=0)
    new, previous = keys_in_file(settings)
    assert previous == old, "halfway: both keys are still in the file"
    monkeypatch.undo()

    halfway = open_store(settings)
    try:
        with halfway.db.read() as session:
            account = session.get(Account, live)
            assert account is not None
            assert first_name(session, halfway.keyring, account) == "Jane"
        report = rotate_master_key(halfway.db, halfway.keyring, settings.master_key_file, 0)
    finally:
        halfway.close()
    assert report.new_key_id == new.key_id, "resumed with the key already written"
    assert keys_in_file(settings) == [new]
    reopened = open_store(settings)
    try:
        with reopened.db.read() as session:
            row = session.get(ReviewItem, item)
            assert row is not None
            assert read_review_transcript(reopened.keyring, row) == "turn the lights off"
    finally:
        reopened.close()
    again = open_store(settings)
    try:
        second = rotate_master_key(again.db, again.keyring, settings.master_key_file, 0)
    finally:
        again.close()
    assert second.new_key_id != new.key_id, "a later rotation makes a new key again"


def test_with_keys_from_the_environment_a_new_key_must_be_listed_first(tmp_path: Path) -> None:
    old, new = MasterKey(b"\1" * 32), MasterKey(b"\2" * 32)
    one = Settings.for_workspace(tmp_path / "ws", env={"EARMUFF_MASTER_KEY": old.key.hex()})
    opened = open_store(one)
    try:
        live = add_account(opened, "ACC-1", "Jane", "SN-1")
        with pytest.raises(RotationError):
            rotate_master_key(opened.db, opened.keyring, None, grace_s=0)
    finally:
        opened.close()
    both = Settings.for_workspace(
        tmp_path / "ws", env={"EARMUFF_MASTER_KEY": f"{new.key.hex()},{old.key.hex()}"}
    )
    opened = open_store(both)
    try:
        report = rotate_master_key(opened.db, opened.keyring, None, grace_s=0)
    finally:
        opened.close()
    assert report.new_key_id == new.key_id and report.account_keys == 1
    alone = open_store(
        Settings.for_workspace(tmp_path / "ws", env={"EARMUFF_MASTER_KEY": new.key.hex()})
    )
    try:
        with alone.db.read() as session:
            account = session.get(Account, live)
            assert account is not None
            assert first_name(session, alone.keyring, account) == "Jane"
    finally:
        alone.close()
    with pytest.raises(MasterKeyError):
        open_store(
            Settings.for_workspace(tmp_path / "ws", env={"EARMUFF_MASTER_KEY": old.key.hex()})
        )
