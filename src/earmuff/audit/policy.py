"""The policy in force, on the record: a process that starts under a policy the log has
not seen appends ``policy.changed`` with its version and hash.

The policy decides what reviewers hear (sampling, anonymization strength, retention),
so a quiet edit to the TOML file is a change of what earmuff does to people's
recordings; the log says from when each wording was in force.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from earmuff.audit.log import record
from earmuff.store import Store
from earmuff.store.models import AuditEvent

SUBJECT = "policy"
CHANGED = "policy.changed"


def policy_sha256(store: Store) -> str:
    policy = store.settings.policy
    return hashlib.sha256(policy.model_dump_json().encode()).hexdigest()


def note_policy(store: Store, by: str) -> bool:
    """Record the policy if it differs from the last one recorded; True when it did."""
    digest = policy_sha256(store)
    with store.db.read() as session:
        last = session.scalar(
            select(AuditEvent.details)
            .where(AuditEvent.subject == SUBJECT, AuditEvent.action == CHANGED)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    if last is not None and last.get("sha256") == digest:
        return False
    with store.db.transaction() as session:
        record(
            session,
            by,
            CHANGED,
            SUBJECT,
            {"version": store.settings.policy.version, "sha256": digest},
        )
    return True
