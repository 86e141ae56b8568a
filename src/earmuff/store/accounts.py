"""Accounts and their devices: registration and device-token authentication.

A device token is 256 random bits, so a fast hash (SHA-256) is enough to store it: it
cannot be guessed, and a lookup by hash costs one index probe per upload.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from earmuff.store.crypto import KeyRing, field_context, seal, unseal
from earmuff.store.models import Account, AccountKey, ConsentSetting, Device, utcnow

TOKEN_PREFIX = "emd_"  # noqa: S105 - a public prefix that makes leaked tokens greppable


class RegistrationError(ValueError):
    """The device cannot be registered as asked (its serial belongs to another account)."""


@dataclass(frozen=True)
class DeviceIdentity:
    """Who an authenticated upload comes from, with the account facts an upload needs."""

    device_id: str
    serial: str
    account_id: str
    account_external_id: str
    first_name_sealed: bytes | None = field(default=None, repr=False)
    raw_retention: str = "policy"
    wrapped_key: bytes | None = field(default=None, repr=False)
    master_key_id: str = ""
    child_profile: bool = False
    """The account or the device is a child's: never reviewed."""
    review_choice: str = "unset"
    """The account's current answer about human review: granted, withdrawn or unset."""
    disclosure_version: str | None = None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_device_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def get_or_create_account(
    session: Session, keyring: KeyRing, external_id: str, first_name: str
) -> Account:
    """The account with ``external_id``, created with its own data key on first sight."""
    account = session.scalar(select(Account).where(Account.external_id == external_id))
    if account is None:
        account = Account(external_id=external_id)
        session.add(account)
        session.flush()
        keyring.create_account_key(session, account.id)
        session.add(ConsentSetting(account_id=account.id, human_review="unset", source="created"))
    set_first_name(session, keyring, account, first_name)
    return account


def set_first_name(session: Session, keyring: KeyRing, account: Account, first_name: str) -> None:
    """Store the name sealed under the account key, so shredding the key forgets it too."""
    key = keyring.account_key(session, account.id)
    if open_first_name(key, account.id, account.first_name_sealed) != first_name:
        account.first_name_sealed = seal_first_name(key, account.id, first_name)


def first_name(session: Session, keyring: KeyRing, account: Account) -> str | None:
    if account.first_name_sealed is None:
        return None
    key = keyring.account_key(session, account.id)
    return open_first_name(key, account.id, account.first_name_sealed)


def seal_first_name(data_key: bytes, account_id: str, first_name: str) -> bytes:
    return seal(data_key, first_name.encode(), field_context("accounts", "first_name", account_id))


def open_first_name(data_key: bytes, account_id: str, sealed: bytes | None) -> str | None:
    if sealed is None:
        return None
    return unseal(data_key, sealed, field_context("accounts", "first_name", account_id)).decode()


def register_device(
    session: Session, keyring: KeyRing, external_id: str, first_name: str, serial: str
) -> tuple[Device, str]:
    """Register ``serial`` for the account and return it with its token (shown only once)."""
    if not serial.strip() or len(serial) > 128:
        raise RegistrationError("a serial is 1-128 characters")
    if not external_id.strip() or len(external_id) > 128:
        raise RegistrationError("an account number is 1-128 characters")
    if active_device(session, serial) is not None:
        raise RegistrationError(f"a device with serial {serial!r} is already registered")
    account = get_or_create_account(session, keyring, external_id, first_name)
    token = new_device_token()
    device = Device(account_id=account.id, serial=serial, token_hash=hash_token(token))
    session.add(device)
    session.flush()
    return device, token


def active_device(session: Session, serial: str) -> Device | None:
    """The device holding ``serial`` that is not revoked (at most one: a unique index)."""
    return session.scalar(
        select(Device).where(Device.serial == serial, Device.revoked_at.is_(None))
    )


def _device_to_change(session: Session, serial: str) -> Device:
    device = active_device(session, serial)
    if device is None:
        raise RegistrationError(f"no active device with serial {serial!r}")
    return device


def revoke_device(session: Session, serial: str) -> Device:
    """Refuse the device's token from the next request on. The row stays, since its
    recordings point at it; the serial can be registered again."""
    device = _device_to_change(session, serial)
    device.revoked_at = utcnow()
    session.flush()
    return device


def rotate_device_token(session: Session, serial: str) -> tuple[Device, str]:
    """A new token for the device (shown once); the old one is refused from now on."""
    device = _device_to_change(session, serial)
    token = new_device_token()
    device.token_hash = hash_token(token)
    session.flush()
    return device, token


def erased_external_id(account_id: str) -> str:
    """What stands in ``accounts.external_id`` once everything of an account is deleted.

    Derived from the random internal id alone, so it says nothing about the account
    number, and it keeps the column unique. No keyed tombstone of the number is kept:
    nothing needs to recognise it (receipts name the internal id, and the same number
    registering again simply gets a new account with a new key).
    """
    return f"erased:{account_id}"


_DEVICE_BY_TOKEN = (
    select(
        Device.id,
        Device.serial,
        Account.id,
        Account.external_id,
        Account.first_name_sealed,
        Account.raw_retention,
        AccountKey.wrapped_key,
        AccountKey.master_key_id,
        Account.is_child_profile,
        Device.is_child_profile,
        ConsentSetting.human_review,
        ConsentSetting.disclosure_version,
    )
    .join(Account, Account.id == Device.account_id)
    .outerjoin(AccountKey, AccountKey.account_id == Account.id)
    .outerjoin(ConsentSetting, ConsentSetting.account_id == Account.id)
    .where(
        Device.token_hash == bindparam("token_hash"),
        Device.revoked_at.is_(None),
        Account.deleted_at.is_(None),
    )
)
"""Built once: composing it per upload cost more than running it."""


def authenticate_device(connection: Connection, token: str) -> DeviceIdentity | None:
    """The active device holding ``token``, or None for an unknown or revoked token.

    One Core query, no ORM objects: it runs on every upload. It also reads what the
    consent stage decides on, so that an upload is judged by the consent in force when
    it arrived, in the transaction that stores it.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    row = connection.execute(_DEVICE_BY_TOKEN, {"token_hash": hash_token(token)}).first()
    if row is None:
        return None
    return DeviceIdentity(
        device_id=row[0],
        serial=row[1],
        account_id=row[2],
        account_external_id=row[3],
        first_name_sealed=row[4],
        raw_retention=row[5],
        wrapped_key=row[6],
        master_key_id=row[7],
        child_profile=bool(row[8] or row[9]),
        review_choice=row[10] or "unset",
        disclosure_version=row[11],
    )
