"""Process settings, read once from the environment.

Everything that differs between a laptop demo and a production deployment lives here,
so no other module reads ``os.environ``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from earmuff.config.policy import Policy, load_policy

DEFAULT_WORKSPACE = Path("earmuff-data")
BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")
_QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


class SettingsError(ValueError):
    """A setting has a value earmuff cannot use; the message names the variable."""


@dataclass(frozen=True)
class IngestLimits:
    """What a device may upload. Checked before any byte is stored."""

    max_audio_bytes: int = 10 * 1024 * 1024
    max_duration_s: float = 60.0
    min_sample_rate: int = 8_000
    max_sample_rate: int = 48_000
    max_channels: int = 8

    @property
    def max_body_bytes(self) -> int:
        """The whole multipart body: the audio plus room for metadata and framing."""
        return self.max_audio_bytes + 64 * 1024


@dataclass(frozen=True)
class Settings:
    """Where earmuff keeps its data and how it guards it."""

    workspace: Path
    database_url: str
    blob_dir: Path
    master_key_file: Path
    master_key: str | None = field(default=None, repr=False)
    """``EARMUFF_MASTER_KEY``, else the key file: one key (hex or base64), or during a
    master-key rotation several, separated by commas (lines in the file), the current
    one first and the previous ones after it, still accepted for opening what they
    wrapped. ``earmuff keys rotate`` rewraps everything under the first and retires the
    others (see ``store/rotation.py``)."""
    limits: IngestLimits = field(default_factory=IngestLimits)
    policy: Policy = field(default_factory=Policy)
    secure_cookies: bool = True
    """Session cookies only over HTTPS (browsers treat http://localhost as secure)."""
    staff_session_hours: float = 10.0
    broker_url: str | None = field(default=None, repr=False)
    """The distributed engine's broker (Redis or RabbitMQ); unset runs the pipeline in-process."""
    pipeline_queue: str = "earmuff-pipeline"
    """The broker queue of pipeline work; on Redis it also namespaces earmuff's keys."""
    broker_visibility_timeout_s: float = 3600.0
    """Redis only: how long a recording handed to a worker stays unacknowledged before
    Redis gives it to another (its worker may have died); longer than the slowest one."""
    retention_interval_s: float = 3600.0
    """How often ``earmuff serve`` enforces the retention limits."""
    audit_signing_key_file: Path = Path("audit-signing.key")
    """The Ed25519 key that signs the audit log's checkpoints: its own file, never in the
    database, so a copy of the database cannot forge a checkpoint."""
    audit_checkpoint_dir: Path = Path("audit-checkpoints")
    """Where signed checkpoints are written: outside the database, ideally a mounted
    write-once store, so whoever rewrites the database cannot rewrite them too."""
    audit_checkpoint_events: int = 1000
    """A checkpoint at least every this many audit events ..."""
    audit_checkpoint_seconds: float = 60.0
    """... and, while ``earmuff serve`` runs, within this many seconds of any event."""

    @classmethod
    def for_workspace(
        cls,
        workspace: Path | str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Settings:
        """Build settings for ``workspace`` (else ``EARMUFF_WORKSPACE``, else ./earmuff-data).

        ``env`` defaults to the process environment; tests pass their own mapping.
        """
        env = os.environ if env is None else env
        root = Path(workspace or env.get("EARMUFF_WORKSPACE") or DEFAULT_WORKSPACE).absolute()
        database_url = env.get("EARMUFF_DATABASE_URL") or f"sqlite:///{root / 'earmuff.db'}"
        policy_path = env.get("EARMUFF_POLICY_FILE")
        default_policy = root / "policy.toml"
        if policy_path:
            policy = load_policy(Path(policy_path))
        elif default_policy.exists():
            policy = load_policy(default_policy)
        else:
            policy = Policy()
        limits = IngestLimits(
            max_audio_bytes=_int(env, "EARMUFF_MAX_UPLOAD_BYTES", IngestLimits.max_audio_bytes),
            max_duration_s=_float(env, "EARMUFF_MAX_DURATION_S", IngestLimits.max_duration_s),
        )
        return cls(
            workspace=root,
            database_url=database_url,
            blob_dir=Path(env.get("EARMUFF_BLOB_DIR") or root / "blobs").absolute(),
            master_key_file=Path(env.get("EARMUFF_MASTER_KEY_FILE") or root / "master.key"),
            master_key=env.get("EARMUFF_MASTER_KEY") or None,
            limits=limits,
            policy=policy,
            secure_cookies=_bool(env, "EARMUFF_SECURE_COOKIES", True),
            staff_session_hours=_float(env, "EARMUFF_STAFF_SESSION_HOURS", 10.0),
            broker_url=_broker_url(env),
            pipeline_queue=_queue_name(env),
            broker_visibility_timeout_s=_float(env, "EARMUFF_BROKER_VISIBILITY_TIMEOUT_S", 3600.0),
            retention_interval_s=_float(
                env, "EARMUFF_RETENTION_INTERVAL_S", Settings.retention_interval_s
            ),
            audit_signing_key_file=Path(
                env.get("EARMUFF_AUDIT_SIGNING_KEY_FILE") or root / "audit-signing.key"
            ).absolute(),
            audit_checkpoint_dir=Path(
                env.get("EARMUFF_AUDIT_CHECKPOINT_DIR") or root / "audit-checkpoints"
            ).absolute(),
            audit_checkpoint_events=_int(
                env, "EARMUFF_AUDIT_CHECKPOINT_EVENTS", Settings.audit_checkpoint_events
            ),
            audit_checkpoint_seconds=_float(
                env, "EARMUFF_AUDIT_CHECKPOINT_SECONDS", Settings.audit_checkpoint_seconds
            ),
        )


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not 0 < value < math.inf:
        raise SettingsError(f"{name} must be a positive, finite number, got {raw}")
    return value


def _broker_url(env: Mapping[str, str]) -> str | None:
    """The URL is checked here so a typo fails at start, naming only its scheme (never a
    password the URL may carry)."""
    raw = env.get("EARMUFF_BROKER_URL")
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        scheme, host = parts.scheme, parts.hostname
    except ValueError:
        scheme, host = "", None
    if scheme not in BROKER_SCHEMES or not host:
        raise SettingsError(
            "EARMUFF_BROKER_URL must be a Redis or RabbitMQ URL with a host, such as "
            "redis://127.0.0.1:6379/0 or amqp://guest:guest@127.0.0.1:5672//"
            f" (got scheme {scheme or 'none'!r})"
        )
    return raw


def _queue_name(env: Mapping[str, str]) -> str:
    raw = env.get("EARMUFF_PIPELINE_QUEUE")
    if not raw:
        return Settings.pipeline_queue
    if not _QUEUE_NAME.fullmatch(raw):
        raise SettingsError(
            "EARMUFF_PIPELINE_QUEUE must be 1-100 letters, digits and . _ : - "
            f"(starting with a letter or digit), got {raw!r}"
        )
    return raw


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if not raw:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}")
