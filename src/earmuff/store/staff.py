"""Staff accounts: argon2id passwords, a TOTP second factor, and lock-out.

A stolen password alone opens nothing: every sign-in also needs a one-time code from
the person's authenticator, and each code works once. Repeated failures, of either
factor, lock the account for a while, so guessing is slower than asking an admin.
The TOTP secret is sealed under a master-derived key: a copy of the database alone
cannot mint codes.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.store.crypto import KeyRing, field_context, seal, unseal
from earmuff.store.models import STAFF_ROLES, StaffUser, new_id

STAFF_SECRETS_PURPOSE = "earmuff staff secrets v1"
MAX_FAILURES = 5
LOCKOUT = timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 12
TOTP_ISSUER = "earmuff"
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")

_HASHER = PasswordHasher()
"""argon2-cffi's defaults are argon2id with RFC 9106's low-memory profile."""


class StaffError(ValueError):
    """A request about a staff account that cannot be honoured; ``field`` names the input."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SignInRefused(Exception):
    """Sign-in failed. The message is the same for a wrong name and a wrong password."""

    def __init__(self, reason: str, locked_until: datetime | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.locked_until = locked_until


@dataclass(frozen=True)
class NewStaffCredentials:
    """For the caller that made the account in-process (enrolment, tests, the demo's
    sandbox): no page or command shows these to anyone but the person themselves."""

    user: StaffUser
    password: str
    totp_secret: str

    @property
    def totp_uri(self) -> str:
        return totp_uri(self.user.username, self.totp_secret)


def _secret_key(keyring: KeyRing) -> bytes:
    return keyring.master.derive(STAFF_SECRETS_PURPOSE)


def parse_locales(text: str | list[str] | tuple[str, ...]) -> str:
    """Locales as stored: comma-separated BCP 47 tags like ``en-US``, checked."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    locales = [p.strip() for p in parts if p.strip()]
    for locale in locales:
        if not LOCALE.match(locale):
            raise StaffError(f"{locale!r} is not a locale like en-US", "locales")
    return ",".join(dict.fromkeys(locales))


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StaffError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters", "password")


def create_staff(
    session: Session,
    keyring: KeyRing,
    username: str,
    role: str,
    locales: str = "",
    safety_pool: bool = False,
    password: str | None = None,
) -> NewStaffCredentials:
    """Add a staff member; the password (generated unless given) and TOTP secret are
    returned to the caller and never stored in the clear.

    The internal primitive behind enrolment: admins never call it directly, they
    propose an account and the person enrols (``review/enrolment.py``)."""
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise StaffError("a username is 2-64 letters, digits, '.', '_' or '-'", "username")
    if role not in STAFF_ROLES:
        raise StaffError(f"role must be one of {', '.join(STAFF_ROLES)}", "role")
    if session.scalar(select(StaffUser.id).where(StaffUser.username == username)):
        raise StaffError(f"the username {username!r} is taken", "username")
    password = password if password is not None else secrets.token_urlsafe(15)
    check_password(password)
    totp_secret = pyotp.random_base32()
    user = StaffUser(
        id=new_id(),
        username=username,
        password_hash=_HASHER.hash(password),
        role=role,
        locales=parse_locales(locales),
        safety_pool=safety_pool,
        active=True,
        failed_logins=0,
    )
    user.totp_secret_sealed = _seal_totp(keyring, user.id, totp_secret)
    session.add(user)
    session.flush()
    return NewStaffCredentials(user=user, password=password, totp_secret=totp_secret)


def _seal_totp(keyring: KeyRing, user_id: str, secret: str) -> bytes:
    context = field_context("staff_users", "totp_secret", user_id)
    return seal(_secret_key(keyring), secret.encode(), context)


def totp_secret(keyring: KeyRing, user: StaffUser) -> str:
    if user.totp_secret_sealed is None:
        raise StaffError("this account has no second factor; an admin must reset it")
    context = field_context("staff_users", "totp_secret", user.id)
    return unseal(_secret_key(keyring), user.totp_secret_sealed, context).decode()


def set_credentials(keyring: KeyRing, user: StaffUser, password: str, secret: str) -> None:
    """Give ``user`` the password and TOTP secret they chose at enrolment, and a clean
    slate: no failures counted, no lock, no code used yet under the new secret."""
    check_password(password)
    user.password_hash = _HASHER.hash(password)
    user.totp_secret_sealed = _seal_totp(keyring, user.id, secret)
    user.totp_last_step = None
    user.failed_logins = 0
    user.locked_until = None


def revoke_credentials(user: StaffUser) -> None:
    """Make the password and second factor worthless until the person enrols again:
    the hash is of a random secret nobody ever sees, and the TOTP secret is gone."""
    user.password_hash = _HASHER.hash(secrets.token_urlsafe(32))
    user.totp_secret_sealed = None
    user.totp_last_step = None


def seal_secret(keyring: KeyRing, table: str, row_id: str, secret: str) -> bytes:
    """A TOTP secret sealed for a row other than a staff account (an enrolment)."""
    return seal(_secret_key(keyring), secret.encode(), field_context(table, "totp_secret", row_id))


def unseal_secret(keyring: KeyRing, table: str, row_id: str, sealed: bytes) -> str:
    context = field_context(table, "totp_secret", row_id)
    return unseal(_secret_key(keyring), sealed, context).decode()


def totp_uri(username: str, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=TOTP_ISSUER)


def check_password_sign_in(
    session: Session, username: str, password: str, now: datetime
) -> StaffUser:
    """The first factor. A failure counts towards lock-out; an unknown name costs the
    same hashing time as a known one, so timing does not reveal who exists."""
    user = session.scalar(select(StaffUser).where(StaffUser.username == username.strip().lower()))
    if user is None:
        _HASHER.hash(password)
        raise SignInRefused("wrong username or password")
    _refuse_if_locked(user, now)
    try:
        _HASHER.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        _count_failure(user, now)
        raise SignInRefused("wrong username or password", user.locked_until) from None
    if _HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = _HASHER.hash(password)
    return user


def check_totp_sign_in(keyring: KeyRing, user: StaffUser, code: str, now: datetime) -> None:
    """The second factor: a current code (one step of clock drift allowed), used once."""
    _refuse_if_locked(user, now)
    totp = pyotp.TOTP(totp_secret(keyring, user))
    code = code.strip().replace(" ", "")
    step = int(now.timestamp()) // totp.interval
    for candidate in (step, step - 1, step + 1):
        if secrets.compare_digest(totp.generate_otp(candidate), code):
            if user.totp_last_step is not None and candidate <= user.totp_last_step:
                break
            user.totp_last_step = candidate
            user.failed_logins = 0
            user.locked_until = None
            return
    _count_failure(user, now)
    raise SignInRefused("wrong or already used code", user.locked_until)


def _refuse_if_locked(user: StaffUser, now: datetime) -> None:
    if not user.active:
        raise SignInRefused("this account is disabled")
    if user.locked_until is not None and user.locked_until > now:
        raise SignInRefused("too many failed attempts: try again later", user.locked_until)


def _count_failure(user: StaffUser, now: datetime) -> None:
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILURES:
        user.locked_until = now + LOCKOUT
        user.failed_logins = 0
