"""Envelope encryption: one AES-256-GCM data key per account, wrapped by the master key.

Every sealed value is bound to what it is (its associated data names the account and the
object), so a ciphertext moved to another row or another account fails to open.
Destroying an account's wrapped key makes every blob of that account unreadable
wherever a copy of it survives: crypto-shredding.

The master key can be rotated (``store/rotation.py``): a :class:`KeyRing` holds the
current master key and the previous ones still accepted while rows are rewrapped, and
re-reads its key file when a rotation changes it, so running processes follow along.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.orm import Session

from earmuff.store.models import AccountKey, utcnow

KEY_BYTES = 32
NONCE_BYTES = 12
FORMAT = b"EM1"


class CryptoError(Exception):
    """A sealed value could not be opened: wrong key, tampered bytes, or wrong context."""


class KeyDestroyed(CryptoError):
    """The account's data key was destroyed: its data is gone for good."""


class MasterKeyError(CryptoError):
    """The master key is missing, malformed, or not the one the data was sealed with."""


def seal(key: bytes, plaintext: bytes, context: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` under ``key``, bound to ``context``."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return FORMAT + nonce + AESGCM(key).encrypt(nonce, plaintext, context)


def unseal(key: bytes, sealed: bytes, context: bytes) -> bytes:
    if not sealed.startswith(FORMAT) or len(sealed) < len(FORMAT) + NONCE_BYTES + 16:
        raise CryptoError("not a sealed earmuff value")
    nonce = sealed[len(FORMAT) : len(FORMAT) + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, sealed[len(FORMAT) + NONCE_BYTES :], context)
    except InvalidTag:
        raise CryptoError("authentication failed: wrong key, context, or tampered data") from None


@dataclass(frozen=True)
class MasterKey:
    """The key-encrypting key. In production it comes from a KMS or a secret manager.

    ``pinned`` holds the keys of purposes that must outlive a master-key rotation (see
    :data:`PINNED_PURPOSES`): for those, :meth:`derive` returns the stored key, which
    began as this derivation and is kept wrapped under whichever master is current.
    """

    key: bytes = field(repr=False)
    pinned: Mapping[str, bytes] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key_id(self) -> str:
        """A public fingerprint, stored beside each wrapped key to catch a wrong master key."""
        return hashlib.sha256(b"earmuff master key id" + self.key).hexdigest()[:16]

    def derive(self, purpose: str) -> bytes:
        """A key for one purpose (the vault, staff secrets), independent of every other."""
        if purpose in self.pinned:
            return self.pinned[purpose]
        return self.derive_fresh(purpose)

    def derive_fresh(self, purpose: str) -> bytes:
        """What this master derives for ``purpose``, ignoring any pinned key."""
        hkdf = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose.encode())
        return hkdf.derive(self.key)

    @classmethod
    def from_text(cls, text: str) -> MasterKey:
        """Accept 64 hex digits or URL-safe base64 of 32 bytes."""
        text = text.strip()
        try:
            raw = bytes.fromhex(text) if len(text) == 2 * KEY_BYTES else _b64(text)
        except (ValueError, binascii.Error):
            raise MasterKeyError("EARMUFF_MASTER_KEY is neither hex nor base64") from None
        if len(raw) != KEY_BYTES:
            raise MasterKeyError(f"the master key must be {KEY_BYTES} bytes, got {len(raw)}")
        return cls(raw)

    @classmethod
    def load_or_create(cls, text: str | None, path: Path) -> MasterKey:
        """Use ``text`` if given, else the key file, creating it (mode 0600) on first run."""
        if text:
            return cls.from_text(text)
        if path.exists():
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                raise MasterKeyError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
            return parse_master_keys(path.read_text(encoding="ascii"), str(path))[0]
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.load_or_create(None, path)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.hex() + "\n")
        return cls(key)


def parse_master_keys(text: str, source: str = "EARMUFF_MASTER_KEY") -> list[MasterKey]:
    """Keys separated by commas or lines, the current one first; ``#`` starts a comment.

    More than one key exists only during a rotation: the others are previous keys,
    still accepted for opening what was wrapped under them until it is rewrapped.
    """
    keys: list[MasterKey] = []
    for line in text.splitlines():
        for part in line.split("#", 1)[0].split(","):
            if part.strip():
                keys.append(MasterKey.from_text(part))
    if not keys:
        raise MasterKeyError(f"{source} holds no key")
    if len({k.key_id for k in keys}) != len(keys):
        raise MasterKeyError(f"{source} lists the same key twice")
    return keys


def load_master_keys(text: str | None, path: Path) -> list[MasterKey]:
    """The master keys from ``text`` (``EARMUFF_MASTER_KEY``) or the key file, creating
    the file (mode 0600) with one new key on first run; the current key comes first."""
    if text:
        return parse_master_keys(text)
    MasterKey.load_or_create(None, path)
    return parse_master_keys(path.read_text(encoding="ascii"), str(path))


def write_master_keys(path: Path, keys: Sequence[MasterKey]) -> None:
    """Replace the key file atomically (mode 0600, flushed to disk): a crash leaves the
    old list or the new one, never a file missing a key that rows still need."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write("".join(k.key.hex() + "\n" for k in keys))
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


WATERMARK_PURPOSE = "earmuff audio watermark v1"


def watermark_key(master: MasterKey) -> bytes:
    """The secret that places the audio watermark: derived, so every process of a
    workspace marks and identifies alike and nothing extra has to be stored."""
    return master.derive(WATERMARK_PURPOSE)


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


PSEUDONYM_PURPOSE = "earmuff pseudonyms v1"

PINNED_PURPOSES = (
    "earmuff vault v1",
    "earmuff vault index v1",
    "earmuff staff secrets v1",
    WATERMARK_PURPOSE,
    "earmuff audio urls v1",
    "earmuff sampling v1",
    "earmuff review overlap v1",
    PSEUDONYM_PURPOSE,
)
"""Purposes whose key a master-key rotation keeps, rewrapped, rather than replaces.

Each is baked into something a rotation cannot rewrite or must not break while servers
run: pseudonyms in the hash-chained audit log, watermarks in audio already streamed,
the vault's blind indexes (copied into re-identification requests, and looked up by
every deletion and withdrawal), staff TOTP secrets (a rotation must not sign anyone
out), signed audio URLs in flight, and the sampling and overlap scores that keep the
pipeline's decisions idempotent. What they protect without the content behind them is
a link between rows; the content (audio, transcripts, names) is under the account keys
and the review-items key, which a rotation does replace. The names are spelled out
here because the modules that use them sit above ``store``; a test checks them.
"""


def pseudonym(keyring: KeyRing, kind: str, value: str) -> str:
    """A stable, keyed tag for an identifier that must never be written in the clear
    (a device serial, an account number), for the audit log and tombstones.

    An HMAC under a pinned key: whoever holds the live master key can check whether a
    given serial is the one an event names; the log alone says nothing about it.
    """
    key = keyring.master.derive(PSEUDONYM_PURPOSE)
    digest = hmac.new(key, f"{kind}|{value}".encode(), hashlib.sha256).hexdigest()
    return f"{kind}~{digest[:32]}"


class KeyRing:
    """Creates, unwraps and destroys account data keys held in ``account_keys``.

    It holds the current master key and any previous ones (during a rotation). With a
    ``key_file`` it re-reads that file whenever it changes, so a process that started
    before ``earmuff keys rotate`` wraps under the new key and still opens what the old
    one wrapped, without a restart.
    """

    def __init__(
        self,
        master: MasterKey,
        previous: Sequence[MasterKey] = (),
        key_file: Path | None = None,
    ) -> None:
        self._keys: tuple[MasterKey, ...] = (master, *previous)
        self._pinned: dict[str, bytes] = {}
        self._key_file = key_file
        self._signature = _file_signature(key_file) if key_file else None
        self._lock = threading.Lock()

    @property
    def master(self) -> MasterKey:
        """The current master key, with the pinned purpose keys."""
        return self.masters[0]

    @property
    def masters(self) -> tuple[MasterKey, ...]:
        """Every accepted master key, the current one first."""
        self.refresh()
        return self._keys

    def refresh(self, force: bool = False) -> None:
        """Re-read the key file if it changed since it was last read."""
        if self._key_file is None:
            return
        signature = _file_signature(self._key_file)
        if signature is None or (signature == self._signature and not force):
            return
        with self._lock:
            keys = parse_master_keys(
                self._key_file.read_text(encoding="ascii"), str(self._key_file)
            )
            self._keys = tuple(MasterKey(k.key, self._pinned) for k in keys)
            self._signature = signature

    def pin(self, pinned: Mapping[str, bytes]) -> None:
        """Use these keys for their purposes from now on, whatever the master key."""
        with self._lock:
            self._pinned = dict(pinned)
            self._keys = tuple(MasterKey(k.key, self._pinned) for k in self._keys)

    def find(self, master_key_id: str) -> MasterKey:
        """The accepted master key with this id (re-reading the key file once if none)."""
        for candidate in self.masters:
            if candidate.key_id == master_key_id:
                return candidate
        self.refresh(force=True)
        for candidate in self._keys:
            if candidate.key_id == master_key_id:
                return candidate
        raise MasterKeyError("this account's key was wrapped by a different master key")

    def derive_all(self, purpose: str) -> list[bytes]:
        """``purpose``'s key under each accepted master, current first: what opens a
        value sealed under a rotating purpose key while a rotation is under way."""
        return list(dict.fromkeys(m.derive(purpose) for m in self.masters))

    def create_account_key(self, session: Session, account_id: str) -> bytes:
        data_key = secrets.token_bytes(KEY_BYTES)
        master = self.master
        wrapped = seal(master.key, data_key, _wrap_context(account_id))
        session.add(
            AccountKey(account_id=account_id, wrapped_key=wrapped, master_key_id=master.key_id)
        )
        return data_key

    def account_key(self, session: Session, account_id: str) -> bytes:
        row = session.get(AccountKey, account_id)
        if row is None:
            raise KeyDestroyed(f"the data key of account {account_id} does not exist")
        return self.unwrap(account_id, row.wrapped_key, row.master_key_id)

    def unwrap(self, account_id: str, wrapped_key: bytes | None, master_key_id: str) -> bytes:
        """The data key from its wrapped form, as read from ``account_keys``."""
        if wrapped_key is None:
            raise KeyDestroyed(f"the data key of account {account_id} does not exist")
        return unseal(self.find(master_key_id).key, wrapped_key, _wrap_context(account_id))

    def rewrap(self, row: AccountKey) -> bool:
        """Wrap the row's key under the current master; False if it already was (or the
        key is destroyed, which no rotation brings back)."""
        master = self.master
        if row.wrapped_key is None or row.master_key_id == master.key_id:
            return False
        data_key = self.unwrap(row.account_id, row.wrapped_key, row.master_key_id)
        row.wrapped_key = seal(master.key, data_key, _wrap_context(row.account_id))
        row.master_key_id = master.key_id
        return True

    def destroy_account_key(self, session: Session, account_id: str) -> None:
        """Forget the key. Irreversible: every blob sealed under it becomes noise."""
        row = session.get(AccountKey, account_id)
        if row is not None and row.wrapped_key is not None:
            row.wrapped_key = None
            row.destroyed_at = utcnow()


def _file_signature(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


def _wrap_context(account_id: str) -> bytes:
    return b"earmuff account key|" + account_id.encode()


def blob_context(account_id: str, blob_key: str) -> bytes:
    return b"earmuff blob|" + account_id.encode() + b"|" + blob_key.encode()


def field_context(table: str, column: str, row_id: str) -> bytes:
    return f"earmuff field|{table}.{column}|{row_id}".encode()
