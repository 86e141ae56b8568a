"""Envelope encryption: one AES-256-GCM data key per account, wrapped by the master key.

Every sealed value is bound to what it is (its associated data names the account and the
object), so a ciphertext moved to another row or another account fails to open.
Destroying an account's wrapped key makes every blob of that account unreadable
wherever a copy of it survives: crypto-shredding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
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
    """The key-encrypting key. In production it comes from a KMS or a secret manager."""

    key: bytes = field(repr=False)

    @property
    def key_id(self) -> str:
        """A public fingerprint, stored beside each wrapped key to catch a wrong master key."""
        return hashlib.sha256(b"earmuff master key id" + self.key).hexdigest()[:16]

    def derive(self, purpose: str) -> bytes:
        """A key for one purpose (the vault, staff secrets), independent of every other."""
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
            return cls.from_text(path.read_text(encoding="ascii"))
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls.load_or_create(None, path)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(key.hex() + "\n")
        return cls(key)


WATERMARK_PURPOSE = "earmuff audio watermark v1"


def watermark_key(master: MasterKey) -> bytes:
    """The secret that places the audio watermark: derived, so every process of a
    workspace marks and identifies alike and nothing extra has to be stored."""
    return master.derive(WATERMARK_PURPOSE)


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class KeyRing:
    """Creates, unwraps and destroys account data keys held in ``account_keys``."""

    def __init__(self, master: MasterKey) -> None:
        self.master = master

    def create_account_key(self, session: Session, account_id: str) -> bytes:
        data_key = secrets.token_bytes(KEY_BYTES)
        wrapped = seal(self.master.key, data_key, _wrap_context(account_id))
        session.add(
            AccountKey(account_id=account_id, wrapped_key=wrapped, master_key_id=self.master.key_id)
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
        if master_key_id != self.master.key_id:
            raise MasterKeyError("this account's key was wrapped by a different master key")
        return unseal(self.master.key, wrapped_key, _wrap_context(account_id))

    def destroy_account_key(self, session: Session, account_id: str) -> None:
        """Forget the key. Irreversible: every blob sealed under it becomes noise."""
        row = session.get(AccountKey, account_id)
        if row is not None and row.wrapped_key is not None:
            row.wrapped_key = None
            row.destroyed_at = utcnow()


def _wrap_context(account_id: str) -> bytes:
    return b"earmuff account key|" + account_id.encode()


def blob_context(account_id: str, blob_key: str) -> bytes:
    return b"earmuff blob|" + account_id.encode() + b"|" + blob_key.encode()


def field_context(table: str, column: str, row_id: str) -> bytes:
    return f"earmuff field|{table}.{column}|{row_id}".encode()
