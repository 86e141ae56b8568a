"""Checking the audit log against its chain and every signed checkpoint, and exporting a
stretch of it that a third party can check alone.

What each check catches: an edited, inserted, deleted or reordered event breaks the
chain at that event; a chain rewritten with recomputed hashes no longer ends where a
checkpoint says it ended; a truncated tail is shorter than a checkpoint says it was; a
forged or altered checkpoint fails its signature. What no check can catch: events
appended after the newest checkpoint and deleted before the next one. The server
signs within ``audit_checkpoint_seconds`` of any event, which bounds that window.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from earmuff.audit.checkpoints import (
    Checkpoint,
    CheckpointError,
    CheckpointFolder,
    key_id,
    load_or_create_signing_key,
    public_bytes,
)
from earmuff.audit.log import AuditChainBroken, event_hash, walk
from earmuff.config import Settings
from earmuff.store.models import AuditEvent

EXPORT_FORMAT = "earmuff-audit-export-1"


@dataclass(frozen=True)
class Problem:
    """One thing that does not hold; ``event_id`` names the first event it concerns."""

    message: str
    event_id: int | None = None
    checkpoint: str | None = None


@dataclass
class Verdict:
    events: int = 0
    checkpoints: int = 0
    latest: Checkpoint | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def unsigned(self) -> int:
        """Events after the newest checkpoint: chained, but not yet pinned by a signature."""
        return self.events - (self.latest.seq if self.latest is not None else 0)

    def summary(self) -> str:
        """One line for people: what holds, or the first thing that does not."""
        if not self.ok:
            first = self.problems[0]
            where = f"event {first.event_id}: " if first.event_id is not None else ""
            return f"BROKEN: {where}{first.message}"
        signed = (
            f", the newest signed at event {self.latest.seq} ({self.latest.at[:19]} UTC)"
            if self.latest is not None
            else ""
        )
        return (
            f"intact: {self.events} events, every hash holds, {self.checkpoints} signed "
            f"checkpoint(s) match{signed}; {self.unsigned} event(s) not yet signed"
        )


def verify_workspace(
    session: Session, settings: Settings, keys: Iterable[Ed25519PublicKey] | None = None
) -> Verdict:
    """:func:`verify_log` with the workspace's checkpoint folder, trusting ``keys`` or,
    without, the public half of the workspace's own signing key."""
    if keys is None:
        signing = load_or_create_signing_key(settings.workspace / settings.audit_signing_key_file)
        keys = [signing.public_key()]
    folder = CheckpointFolder(settings.workspace / settings.audit_checkpoint_dir)
    return verify_log(session, folder, keys)


def trusted(keys: Iterable[Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
    return {key_id(key): key for key in keys}


def verify_log(
    session: Session, folder: CheckpointFolder, keys: Iterable[Ed25519PublicKey]
) -> Verdict:
    """Stream the whole log once, checking the chain and each checkpoint it passes."""
    known = trusted(keys)
    verdict = Verdict()
    by_seq: dict[int, list[tuple[str, Checkpoint]]] = {}
    for found in folder.files():
        name = found.path.name
        if found.checkpoint is None:
            verdict.problems.append(Problem(f"unreadable: {found.problem}", checkpoint=name))
            continue
        try:
            found.checkpoint.check_signature(known)
        except CheckpointError as exc:
            verdict.problems.append(Problem(f"forged or altered: {exc}", checkpoint=name))
            continue
        verdict.checkpoints += 1
        by_seq.setdefault(found.checkpoint.seq, []).append((name, found.checkpoint))
        if verdict.latest is None or found.checkpoint.seq > verdict.latest.seq:
            verdict.latest = found.checkpoint
    if not known:
        verdict.problems.append(Problem("no verifying key: no checkpoint can be trusted"))
    last_good: tuple[int, int] = (0, 0)
    try:
        for link in walk(session):
            verdict.events = link.seq
            for name, checkpoint in by_seq.get(link.seq, ()):
                if checkpoint.head == link.hash and checkpoint.event_id == link.id:
                    last_good = (link.seq, link.id)
                    continue
                verdict.problems.append(
                    Problem(
                        f"the log was rewritten: checkpoint {name} signed a different event "
                        f"at position {link.seq}; the log still matches what was signed up "
                        f"to position {last_good[0]}, so the first rewritten event is after "
                        f"event {last_good[1]}",
                        event_id=link.id,
                        checkpoint=name,
                    )
                )
    except AuditChainBroken as exc:
        verdict.problems.append(Problem(str(exc), event_id=exc.event_id))
        return verdict
    for seq in sorted(s for s in by_seq if s > verdict.events):
        for name, checkpoint in by_seq[seq]:
            verdict.problems.append(
                Problem(
                    f"the log was truncated: it ends at position {verdict.events} but "
                    f"checkpoint {name} signed {seq} events (the last was event "
                    f"{checkpoint.event_id})",
                    event_id=checkpoint.event_id,
                    checkpoint=name,
                )
            )
    return verdict


def export_events(
    session: Session, since: datetime, checkpoint: Checkpoint, public: Ed25519PublicKey
) -> Iterator[dict[str, Any]]:
    """The header, then every event from ``since`` up to the one ``checkpoint`` signed.

    Each event carries its previous hash, so the stretch verifies on its own: it chains
    from its first event's ``prev_hash`` to the checkpoint's head.
    """
    yield {
        "format": EXPORT_FORMAT,
        "since": since.isoformat(),
        "checkpoint": json.loads(checkpoint.to_json()),
        "public_key": public_bytes(public).hex(),
    }
    rows = session.execute(
        select(AuditEvent)
        .where(AuditEvent.occurred_at >= since, AuditEvent.seq <= checkpoint.seq)
        .order_by(AuditEvent.seq)
        .execution_options(yield_per=2000)
    ).scalars()
    for event in rows:
        yield {
            "id": event.id,
            "seq": event.seq,
            "occurred_at": event.occurred_at.isoformat(),
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "details": event.details,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        }
        session.expunge(event)


def verify_export(lines: IO[str], keys: Iterable[Ed25519PublicKey]) -> Verdict:
    """Check an export alone: its events chain, and end at the signed checkpoint."""
    known = trusted(keys)
    verdict = Verdict()
    try:
        header = json.loads(next(lines))
        if header.get("format") != EXPORT_FORMAT:
            raise ValueError("not an earmuff audit export")
        checkpoint = Checkpoint.from_json(json.dumps(header["checkpoint"]))
    except (StopIteration, ValueError, KeyError, TypeError, AttributeError, CheckpointError) as exc:
        verdict.problems.append(Problem(f"unreadable export header: {exc}"))
        return verdict
    try:
        checkpoint.check_signature(known)
    except CheckpointError as exc:
        verdict.problems.append(Problem(f"the export's checkpoint is forged or altered: {exc}"))
        return verdict
    verdict.latest, verdict.checkpoints = checkpoint, 1
    previous: dict[str, Any] | None = None
    for number, line in enumerate(lines, start=2):
        try:
            event = json.loads(line)
            expected_prev = previous["hash"] if previous is not None else event["prev_hash"]
            digest = event_hash(
                event["prev_hash"],
                datetime.fromisoformat(event["occurred_at"]),
                event["actor"],
                event["action"],
                event["subject"],
                event["details"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            verdict.problems.append(Problem(f"line {number} is not an exported event: {exc}"))
            return verdict
        if event["prev_hash"] != expected_prev or (
            previous is not None and event["seq"] != previous["seq"] + 1
        ):
            verdict.problems.append(
                Problem("does not follow the event before it", event_id=event["id"])
            )
            return verdict
        if digest != event["hash"]:
            verdict.problems.append(
                Problem("content does not match its hash", event_id=event["id"])
            )
            return verdict
        verdict.events += 1
        previous = event
    if previous is None:
        return verdict
    if previous["seq"] != checkpoint.seq or previous["hash"] != checkpoint.head:
        verdict.problems.append(
            Problem(
                f"the export ends at position {previous['seq']}, not at the event its "
                f"checkpoint signed (position {checkpoint.seq})",
                event_id=previous["id"],
            )
        )
    return verdict
