"""Signed checkpoints: the audit log's head, pinned outside the database.

A hash chain proves that no event was changed between two ends it trusts; it cannot
prove the ends. Whoever can write the database can cut the tail off, or rewrite the
whole chain with fresh hashes, and it verifies. A checkpoint is the chain's head (its
position, the event's id and hash) and a time, signed with an Ed25519 key that lives
in a file of its own and written to a folder outside the database (in production, a
write-once mount). To pass, a rewritten log would have to match every checkpoint
ever written, which takes the signing key, not just the database.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.audit.log import APPENDED
from earmuff.config import Settings
from earmuff.store.db import Database
from earmuff.store.models import AuditEvent, utcnow

log = logging.getLogger(__name__)

FORMAT = "earmuff-audit-checkpoint-1"
SUFFIX = ".checkpoint.json"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CheckpointError(Exception):
    """A checkpoint or key file is unreadable, mis-permissioned, or does not verify."""


def key_id(public: Ed25519PublicKey) -> str:
    """A short public fingerprint naming the key that signed a checkpoint."""
    return hashlib.sha256(public_bytes(public)).hexdigest()[:16]


def public_bytes(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes_raw()


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A verifying key as written by :func:`load_or_create_signing_key` (64 hex digits)."""
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(path.read_text().strip()))
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not an earmuff audit public key: {exc}") from None


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    """The signing key from ``path``, created (mode 0600) on first use.

    Its public half is written beside it as ``<name>.pub``, for auditors who should be
    able to verify without being able to sign. A key file others can read is refused:
    anyone who can read it can forge the log's history.
    """
    if path.exists():
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise CheckpointError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
        try:
            return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text().strip()))
        except ValueError:
            raise CheckpointError(f"{path} is not an earmuff audit signing key") from None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return load_or_create_signing_key(path)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key.private_bytes_raw().hex() + "\n")
    _write_new(public_key_path(path), public_bytes(key.public_key()).hex() + "\n")
    return key


def public_key_path(signing_key_path: Path) -> Path:
    return signing_key_path.with_name(signing_key_path.name.removesuffix(".key") + ".pub")


@dataclass(frozen=True)
class Checkpoint:
    """The signed claim "the log's first ``seq`` events end with ``head``"."""

    seq: int
    event_id: int
    head: str
    at: str
    key_id: str
    signature: str = ""

    def payload(self) -> bytes:
        """The signed bytes: every field but the signature, in one canonical form."""
        fields = asdict(self)
        del fields["signature"]
        return json.dumps([FORMAT, fields], sort_keys=True, separators=(",", ":")).encode()

    def signed_with(self, key: Ed25519PrivateKey) -> Checkpoint:
        signature = base64.b64encode(key.sign(self.payload())).decode()
        return Checkpoint(**(asdict(self) | {"signature": signature}))

    def check_signature(self, keys: dict[str, Ed25519PublicKey]) -> None:
        public = keys.get(self.key_id)
        if public is None:
            raise CheckpointError(f"signed by an unknown key {self.key_id}")
        try:
            public.verify(base64.b64decode(self.signature, validate=True), self.payload())
        except (InvalidSignature, ValueError):
            raise CheckpointError("its signature does not verify") from None

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        try:
            data: Any = json.loads(text)
            if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
                raise ValueError("not an earmuff audit checkpoint")
            checkpoint = cls(**data)
            if not (isinstance(checkpoint.seq, int) and isinstance(checkpoint.event_id, int)):
                raise ValueError("seq and event_id must be integers")
            if not all(
                isinstance(v, str)
                for v in (checkpoint.head, checkpoint.at, checkpoint.key_id, checkpoint.signature)
            ):
                raise ValueError("head, at, key_id and signature must be strings")
        except (ValueError, TypeError) as exc:
            raise CheckpointError(str(exc)) from None
        return checkpoint


@dataclass(frozen=True)
class CheckpointFile:
    """A file of the checkpoint folder: its checkpoint, or why it could not be read."""

    path: Path
    checkpoint: Checkpoint | None
    problem: str | None = None


class CheckpointFolder:
    """The folder of checkpoint files: written once each, never rewritten."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, checkpoint: Checkpoint) -> Path:
        """Write ``checkpoint`` under a name of its own; an existing file is kept as is."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = f"{checkpoint.seq:012d}-{checkpoint.head[:16]}{SUFFIX}"
        path = self.directory / name
        if not path.exists():
            _write_new(path, checkpoint.to_json())
        return path

    def files(self) -> Iterator[CheckpointFile]:
        """Every checkpoint file, in order of position; unreadable ones say why."""
        if not self.directory.exists():
            return
        for path in sorted(self.directory.glob(f"*{SUFFIX}")):
            try:
                yield CheckpointFile(path, Checkpoint.from_json(path.read_text()))
            except (OSError, UnicodeDecodeError, CheckpointError) as exc:
                yield CheckpointFile(path, None, str(exc))

    def latest(self) -> Checkpoint | None:
        found = [f.checkpoint for f in self.files() if f.checkpoint is not None]
        return max(found, key=lambda c: c.seq, default=None)


def _write_new(path: Path, text: str) -> None:
    """Write a file that did not exist, whole or not at all: a temporary file, synced,
    then linked to its name (a link never replaces a file that is already there)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


@dataclass(frozen=True)
class Head:
    seq: int
    event_id: int
    hash: str


def head(session: Session) -> Head | None:
    row = session.execute(
        select(AuditEvent.seq, AuditEvent.id, AuditEvent.hash)
        .order_by(AuditEvent.seq.desc())
        .limit(1)
    ).first()
    return Head(row.seq, row.id, row.hash) if row is not None else None


class Checkpointer:
    """Writes a signed checkpoint every ``every_events`` events or ``every_seconds``.

    Attached to a workspace's database, it looks at each commit that appended an event:
    once ``every_events`` have passed since the last checkpoint it writes one. A commit
    costs a comparison; the signing runs once per ``every_events``. The server also
    calls :meth:`tick` on a timer, so a quiet log's last events are signed within
    ``every_seconds`` rather than waiting for the next busy spell. The time is the
    newest checkpoint's own, so a short-lived command signs what it appended when the
    last signature is older than ``every_seconds``.
    """

    def __init__(
        self,
        db: Database,
        key: Ed25519PrivateKey,
        folder: CheckpointFolder,
        every_events: int,
        every_seconds: float,
    ) -> None:
        self.db = db
        self.key = key
        self.key_id = key_id(key.public_key())
        self.folder = folder
        self.every_events = every_events
        self.every_seconds = every_seconds
        self._lock = threading.Lock()
        latest = folder.latest()
        self._signed_seq = latest.seq if latest is not None else 0
        self._signed_at = _time_of(latest)

    @classmethod
    def for_settings(cls, settings: Settings, db: Database) -> Checkpointer:
        return cls(
            db,
            load_or_create_signing_key(settings.workspace / settings.audit_signing_key_file),
            CheckpointFolder(settings.workspace / settings.audit_checkpoint_dir),
            settings.audit_checkpoint_events,
            settings.audit_checkpoint_seconds,
        )

    def attach(self) -> Checkpointer:
        """Watch the database's commits from now on."""
        self.db.after_commit(self._after_commit)
        return self

    def checkpoint(self) -> Checkpoint | None:
        """Sign and write the current head now; None while the log is empty."""
        with self._lock, self.db.read() as session:
            current = head(session)
            if current is None:
                return None
            checkpoint = Checkpoint(
                seq=current.seq,
                event_id=current.event_id,
                head=current.hash,
                at=utcnow().isoformat(),
                key_id=self.key_id,
            ).signed_with(self.key)
            self.folder.write(checkpoint)
            self._signed_seq = max(self._signed_seq, current.seq)
            self._signed_at = _time_of(checkpoint)
        return checkpoint

    def tick(self) -> Checkpoint | None:
        """Checkpoint if events arrived since the last one and ``every_seconds`` passed."""
        with self.db.read() as session:
            current = head(session)
        if current is None or not self._due(current.seq):
            return None
        return self.checkpoint()

    def _due(self, seq: int) -> bool:
        if seq <= self._signed_seq:
            return False
        waited = (utcnow() - self._signed_at).total_seconds()
        return seq - self._signed_seq >= self.every_events or waited >= self.every_seconds

    def _after_commit(self, session: Session) -> None:
        """What was committed stays committed: a checkpoint that cannot be written now
        (a full disk, an unmounted folder) is logged, and the next commit or the
        server's timer tries again."""
        seq = session.info.pop(APPENDED, None)
        if seq is None or not self._due(seq):
            return
        try:
            self.checkpoint()
        except OSError:
            log.exception("could not write an audit checkpoint to %s", self.folder.directory)


def _time_of(checkpoint: Checkpoint | None) -> datetime:
    """When ``checkpoint`` was signed; the epoch for none, or for a time that does not
    parse (the next commit then signs anew, which is the safe side)."""
    if checkpoint is None:
        return EPOCH
    try:
        at = datetime.fromisoformat(checkpoint.at)
    except ValueError:
        return EPOCH
    return at if at.tzinfo is not None else EPOCH
