"""The deployment's policy file (TOML): the rules a privacy officer signs off.

The policy is versioned: every review item records the version it was made under, so a
later audit can tell which rules applied.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class PolicyError(ValueError):
    """The policy file is unreadable or names a rule earmuff does not know."""


@dataclass(frozen=True)
class RetentionPolicy:
    """How long each kind of data may live, in days."""

    raw_recordings_days: int = 548
    review_items_days: int = 183
    false_wake_tombstones_days: int = 30


@dataclass(frozen=True)
class Policy:
    version: str = "default-1"
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)


def load_policy(path: Path) -> Policy:
    """Read ``path``; unknown keys are errors, so a typo cannot silently weaken a rule."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"cannot read policy file {path}: {exc}") from exc
    retention = _section(data.pop("retention", {}), RetentionPolicy, "retention")
    version = data.pop("version", Policy.version)
    if data:
        raise PolicyError(f"unknown policy keys in {path}: {sorted(data)}")
    if not isinstance(version, str) or not version:
        raise PolicyError("policy 'version' must be a non-empty string")
    return Policy(version=version, retention=retention)


def _section(raw: Any, cls: type[T], name: str) -> T:
    if not isinstance(raw, dict):
        raise PolicyError(f"policy [{name}] must be a table")
    known = {f.name: f for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(raw) - set(known)
    if unknown:
        raise PolicyError(f"unknown keys in policy [{name}]: {sorted(unknown)}")
    for key, value in raw.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise PolicyError(f"policy [{name}] {key} must be a positive integer")
    return cls(**raw)
