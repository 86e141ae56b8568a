"""Envelope encryption: sealing, the master key, account keys, and crypto-shredding."""

from __future__ import annotations

import base64
import io
import os
import secrets
import stat
from pathlib import Path

import pytest
import soundfile as sf
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text

from earmuff.store import Store
from earmuff.store.accounts import first_name, get_or_create_account
from earmuff.store.crypto import (
    FORMAT,
    KEY_BYTES,
    NONCE_BYTES,
    CryptoError,
    KeyDestroyed,
    KeyRing,
    MasterKey,
    MasterKeyError,
    blob_context,
    seal,
    unseal,
)
from earmuff.store.models import Account, AccountKey, Recording
from earmuff.store.recordings import read_audio
from tests.audio_samples import wav
from tests.web.conftest import make_device, upload

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
CONTEXT = b"earmuff blob|acct|recordings/r1.flac"


# --- seal / unseal -------------------------------------------------------------------------


@given(plaintext=st.binary(max_size=2048), context=st.binary(max_size=64))
def test_unseal_returns_exactly_what_was_sealed(plaintext: bytes, context: bytes) -> None:
    assert unseal(KEY, seal(KEY, plaintext, context), context) == plaintext


def test_a_sealed_value_is_versioned_and_never_contains_the_plaintext() -> None:
    plaintext = b"turn on the kitchen lights" * 4
    sealed = seal(KEY, plaintext, CONTEXT)
    assert sealed.startswith(FORMAT)
    assert len(sealed) == len(FORMAT) + NONCE_BYTES + len(plaintext) + 16
    assert plaintext[:16] not in sealed


def test_sealing_twice_gives_different_ciphertexts() -> None:
    """A fresh random nonce each time: equal recordings do not give equal blobs."""
    assert seal(KEY, b"same", CONTEXT) != seal(KEY, b"same", CONTEXT)


@pytest.mark.parametrize(
    "position",
    [0, len(FORMAT), len(FORMAT) + NONCE_BYTES - 1, len(FORMAT) + NONCE_BYTES + 3, -1],
    ids=["format", "nonce start", "nonce end", "ciphertext", "tag"],
)
def test_a_flipped_byte_anywhere_makes_unseal_fail(position: int) -> None:
    sealed = bytearray(seal(KEY, b"hello, is anyone listening?", CONTEXT))
    sealed[position] ^= 0x01
    with pytest.raises(CryptoError):
        unseal(KEY, bytes(sealed), CONTEXT)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-1],
        lambda s: s[: len(FORMAT) + NONCE_BYTES + 15],
        lambda s: s + b"\x00",
        lambda s: b"",
        lambda s: b"EM2" + s[3:],
    ],
    ids=["last byte cut", "shorter than a tag", "byte appended", "empty", "unknown format"],
)
def test_a_truncated_extended_or_foreign_value_makes_unseal_fail(mangle) -> None:
    with pytest.raises(CryptoError):
        unseal(KEY, mangle(seal(KEY, b"payload", CONTEXT)), CONTEXT)


def test_the_wrong_context_makes_unseal_fail() -> None:
    """A ciphertext copied to another row, object or account does not open there."""
    sealed = seal(KEY, b"payload", blob_context("acct-a", "recordings/1.flac"))
    for context in (
        blob_context("acct-b", "recordings/1.flac"),
        blob_context("acct-a", "recordings/2.flac"),
        b"",
    ):
        with pytest.raises(CryptoError):
            unseal(KEY, sealed, context)


def test_the_wrong_key_makes_unseal_fail() -> None:
    with pytest.raises(CryptoError):
        unseal(OTHER_KEY, seal(KEY, b"payload", CONTEXT), CONTEXT)


# --- the master key ------------------------------------------------------------------------


def test_a_master_key_is_read_from_64_hex_digits() -> None:
    key = secrets.token_bytes(KEY_BYTES)
    assert MasterKey.from_text(key.hex()).key == key
    assert MasterKey.from_text(key.hex().upper()).key == key
    assert MasterKey.from_text(f"  {key.hex()}\n").key == key


@pytest.mark.parametrize(
    "encode",
    [
        base64.urlsafe_b64encode,
        lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"="),
        base64.standard_b64encode,
    ],
    ids=["url-safe", "url-safe unpadded", "standard"],
)
def test_a_master_key_is_read_from_base64(encode) -> None:
    key = bytes([0xFB, 0xFF, 0xBF]) * 10 + b"\x00\x01"  # has both '+/' and '-_' digits
    assert MasterKey.from_text(encode(key).decode()).key == key


@pytest.mark.parametrize(
    "text",
    [
        "",
        "00" * 31,
        "00" * 33,
        "zz" * 32,
        base64.urlsafe_b64encode(b"\x00" * 16).decode(),
        base64.urlsafe_b64encode(b"\x00" * 33).decode(),
        "a",
        "not a key!",
    ],
    ids=[
        "empty",
        "31 bytes hex",
        "33 bytes hex",
        "64 non-hex digits",
        "16 bytes base64",
        "33 bytes base64",
        "bad padding",
        "prose",
    ],
)
def test_a_master_key_of_the_wrong_length_or_encoding_is_refused(text: str) -> None:
    with pytest.raises(MasterKeyError):
        MasterKey.from_text(text)


def test_the_master_key_never_appears_in_its_repr() -> None:
    key = MasterKey(secrets.token_bytes(KEY_BYTES))
    assert key.key.hex() not in repr(key)
    assert repr(key.key) not in repr(key)


def test_derived_keys_are_stable_per_purpose_and_independent_across_purposes() -> None:
    master = MasterKey(KEY)
    assert master.derive("vault") == MasterKey(KEY).derive("vault")
    assert master.derive("vault") != master.derive("staff secrets")
    assert master.derive("vault") != MasterKey(OTHER_KEY).derive("vault")
    assert len(master.derive("vault")) == KEY_BYTES
    assert KEY not in {master.derive("vault"), master.derive("staff secrets")}


def test_load_or_create_writes_a_new_key_file_readable_only_by_its_owner(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nested" / "master.key"
    created = MasterKey.load_or_create(None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="ascii").strip() == created.key.hex()
    assert len(created.key) == KEY_BYTES


def test_load_or_create_reuses_the_key_file_on_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    first = MasterKey.load_or_create(None, path)
    second = MasterKey.load_or_create(None, path)
    assert second.key == first.key
    assert second.key_id == first.key_id


def test_load_or_create_prefers_the_key_given_as_text_and_writes_no_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "master.key"
    given_key = secrets.token_bytes(KEY_BYTES)
    assert MasterKey.load_or_create(given_key.hex(), path).key == given_key
    assert not path.exists()


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o666])
def test_load_or_create_refuses_a_key_file_others_can_read_or_write(
    tmp_path: Path, mode: int
) -> None:
    path = tmp_path / "master.key"
    MasterKey.load_or_create(None, path)
    os.chmod(path, mode)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        MasterKey.load_or_create(None, path)


def test_load_or_create_refuses_a_corrupted_key_file(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("00" * 16 + "\n")
    with pytest.raises(MasterKeyError):
        MasterKey.load_or_create(None, path)


# --- account keys and crypto-shredding (both databases) ------------------------------------


def open_blob(store: Store, recording_id: str) -> bytes:
    """What a later pipeline stage does: find the recording, unwrap its key, open its blob."""
    with store.db.transaction() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None and recording.blob_key is not None
        return read_audio(session, store.keyring, store.blobs, recording)


def account_id_of(store: Store, external_id: str) -> str:
    with store.db.transaction() as session:
        account_id = session.scalar(select(Account.id).where(Account.external_id == external_id))
    assert account_id is not None
    return account_id


def test_destroying_an_account_key_makes_only_that_accounts_recordings_unreadable(
    client: TestClient, store: Store
) -> None:
    alice = make_device(store, "ACC-ALICE", "Alice", "SN-A")
    bob = make_device(store, "ACC-BOB", "Bob", "SN-B")
    alice_rec = upload(client, alice.token, alice.metadata(), wav(1.0, seed=1)).json()
    bob_rec = upload(client, bob.token, bob.metadata(), wav(1.0, seed=2)).json()
    alice_id, bob_id = account_id_of(store, "ACC-ALICE"), account_id_of(store, "ACC-BOB")

    # Before: both open, and what is inside is the canonical FLAC of each upload.
    for body in (alice_rec, bob_rec):
        samples, rate = sf.read(io.BytesIO(open_blob(store, body["recording_id"])))
        assert (len(samples), rate) == (16_000, 16_000)

    with store.db.transaction() as session:
        store.keyring.destroy_account_key(session, alice_id)

    with pytest.raises(KeyDestroyed):
        open_blob(store, alice_rec["recording_id"])
    with store.db.transaction() as session:
        row = session.get(AccountKey, alice_id)
        assert row is not None
        assert row.wrapped_key is None
        assert row.destroyed_at is not None
        account = session.get(Account, alice_id)
        with pytest.raises(KeyDestroyed):
            first_name(session, store.keyring, account)
    # The ciphertext itself may survive (in a backup, say): it is noise without the key.
    with store.db.transaction() as session:
        blob_key = session.get(Recording, alice_rec["recording_id"]).blob_key
    assert store.blobs.exists(blob_key)

    samples, _ = sf.read(io.BytesIO(open_blob(store, bob_rec["recording_id"])))
    assert len(samples) == 16_000
    with store.db.transaction() as session:
        assert first_name(session, store.keyring, session.get(Account, bob_id)) == "Bob"


def test_destroying_an_account_key_twice_is_harmless(store: Store) -> None:
    make_device(store, "ACC-TWICE", "Tess", "SN-T")
    account_id = account_id_of(store, "ACC-TWICE")
    with store.db.transaction() as session:
        store.keyring.destroy_account_key(session, account_id)
    with store.db.transaction() as session:
        destroyed_at = session.get(AccountKey, account_id).destroyed_at
        store.keyring.destroy_account_key(session, account_id)
        store.keyring.destroy_account_key(session, "no-such-account")
    with store.db.transaction() as session:
        assert session.get(AccountKey, account_id).destroyed_at == destroyed_at
        with pytest.raises(KeyDestroyed):
            store.keyring.account_key(session, account_id)


def test_an_account_without_a_key_row_has_no_key(store: Store) -> None:
    with store.db.transaction() as session, pytest.raises(KeyDestroyed):
        store.keyring.account_key(session, "0" * 32)


def test_an_account_key_wrapped_under_another_master_key_is_refused(store: Store) -> None:
    make_device(store, "ACC-KEYS", "Kim", "SN-K")
    account_id = account_id_of(store, "ACC-KEYS")
    stranger = KeyRing(MasterKey(secrets.token_bytes(KEY_BYTES)))
    with store.db.transaction() as session, pytest.raises(MasterKeyError):
        stranger.account_key(session, account_id)


def test_a_wrapped_key_copied_onto_another_account_does_not_unwrap(store: Store) -> None:
    """The wrapping is bound to the account id: keys cannot be swapped between rows."""
    make_device(store, "ACC-ONE", "Una", "SN-1")
    make_device(store, "ACC-TWO", "Tom", "SN-2")
    one, two = account_id_of(store, "ACC-ONE"), account_id_of(store, "ACC-TWO")
    with store.db.transaction() as session:
        session.get(AccountKey, two).wrapped_key = session.get(AccountKey, one).wrapped_key
    with store.db.transaction() as session:
        assert len(store.keyring.account_key(session, one)) == KEY_BYTES
        with pytest.raises(CryptoError):
            store.keyring.account_key(session, two)


def test_the_first_name_is_stored_sealed_never_in_plaintext(store: Store) -> None:
    name = "Philippa-Quenneville"
    with store.db.transaction() as session:
        account = get_or_create_account(session, store.keyring, "ACC-NAME", name)
        account_id = account.id
    with store.db.transaction() as session:
        assert first_name(session, store.keyring, session.get(Account, account_id)) == name
        raw = session.execute(
            text("SELECT * FROM accounts WHERE id = :id"), {"id": account_id}
        ).one()
    row_bytes = b"".join(
        bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for value in raw
    )
    assert row_bytes, "the raw row was read"
    for encoded in (name.encode(), name.encode("utf-16-le"), name.lower().encode()):
        assert encoded not in row_bytes
    sealed = raw._mapping["first_name_sealed"]
    assert bytes(sealed).startswith(FORMAT)
