"""Signed checkpoints: what the chain alone cannot catch, they do, and nothing else
writes to the audit table but appends."""

from __future__ import annotations

import json
import os
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import create_engine, delete, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from earmuff.audit.checkpoints import (
    Checkpoint,
    Checkpointer,
    CheckpointError,
    CheckpointFolder,
    load_or_create_signing_key,
    public_key_path,
)
from earmuff.audit.log import GENESIS, event_hash, record
from earmuff.audit.policy import note_policy
from earmuff.audit.verification import Verdict, verify_log
from earmuff.cli.main import app
from earmuff.store import Store
from earmuff.store.db import grant_application_role
from earmuff.store.models import AuditEvent, utcnow
from tests.audit.insider import unseal_audit_table

runner = CliRunner()


def checkpointer(
    store: Store, every_events: int = 1000, every_seconds: float = 3600
) -> Checkpointer:
    settings = store.settings
    return Checkpointer(
        store.db,
        load_or_create_signing_key(settings.workspace / settings.audit_signing_key_file),
        CheckpointFolder(settings.workspace / settings.audit_checkpoint_dir),
        every_events,
        every_seconds,
    )


def append(store: Store, count: int, action: str = "test.event") -> list[int]:
    ids = []
    for n in range(count):
        with store.db.transaction() as session:
            ids.append(record(session, f"staff:{n % 3}", action, f"item:{n}", {"n": n}).id)
    return ids


def verdict(store: Store, signer: Checkpointer) -> Verdict:
    with store.db.read() as session:
        return verify_log(session, signer.folder, [signer.key.public_key()])


def first_broken(found: Verdict) -> int | None:
    assert not found.ok, "the tampering went unnoticed"
    return found.problems[0].event_id


@pytest.fixture
def signed(store: Store) -> tuple[Checkpointer, list[int]]:
    """Ten events, a checkpoint after the sixth and after the tenth."""
    signer = checkpointer(store)
    ids = append(store, 6)
    signer.checkpoint()
    ids += append(store, 4)
    signer.checkpoint()
    return signer, ids


def test_an_untouched_log_verifies_against_its_checkpoints(
    store: Store, signed: tuple[Checkpointer, list[int]]
) -> None:
    signer, _ = signed
    found = verdict(store, signer)
    assert found.ok, found.problems
    assert (found.events, found.checkpoints, found.unsigned) == (10, 2, 0)


def test_the_table_refuses_update_and_delete(store: Store) -> None:
    ids = append(store, 2)
    with pytest.raises(DBAPIError, match="append-only"), store.db.transaction() as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == ids[0]).values(actor="x"))
    with pytest.raises(DBAPIError, match="append-only"), store.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == ids[1]))
    with store.db.read() as session:
        assert session.scalars(select(AuditEvent.actor)).all() == ["staff:0", "staff:1"]


def test_postgres_refuses_truncate_too(store: Store) -> None:
    if store.db.dialect != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite's DELETE trigger covers the table")
    append(store, 1)
    with pytest.raises(DBAPIError, match="append-only"), store.db.transaction() as session:
        session.execute(text("TRUNCATE audit_events"))


def test_an_edited_event_is_named(store: Store, signed: tuple[Checkpointer, list[int]]) -> None:
    signer, ids = signed
    unseal_audit_table(store)
    with store.db.transaction() as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == ids[3]).values(details={"n": 99}))
    assert first_broken(verdict(store, signer)) == ids[3]


def test_a_deleted_event_is_named_by_the_one_after_it(
    store: Store, signed: tuple[Checkpointer, list[int]]
) -> None:
    signer, ids = signed
    unseal_audit_table(store)
    with store.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == ids[4]))
    assert first_broken(verdict(store, signer)) == ids[5]


def test_an_inserted_event_is_named(store: Store, signed: tuple[Checkpointer, list[int]]) -> None:
    """A forged event squeezed in with an id between two real ones."""
    signer, ids = signed
    unseal_audit_table(store)
    with store.db.transaction() as session:
        session.execute(
            update(AuditEvent).where(AuditEvent.id > ids[2]).values(id=AuditEvent.id + 100)
        )
        before = session.get(AuditEvent, ids[2])
        assert before is not None
        at = utcnow()
        session.add(
            AuditEvent(
                id=ids[2] + 1,
                seq=10_000,
                occurred_at=at,
                actor="staff:0",
                action="test.event",
                subject="item:forged",
                details={},
                prev_hash=before.hash,
                hash=event_hash(before.hash, at, "staff:0", "test.event", "item:forged", {}),
            )
        )
    found = verdict(store, signer)
    assert first_broken(found) == ids[2] + 1


def test_reordered_events_are_named(store: Store, signed: tuple[Checkpointer, list[int]]) -> None:
    signer, ids = signed
    unseal_audit_table(store)
    with store.db.transaction() as session:
        session.execute(update(AuditEvent).where(AuditEvent.id == ids[7]).values(id=-1))
        session.execute(update(AuditEvent).where(AuditEvent.id == ids[8]).values(id=ids[7]))
        session.execute(update(AuditEvent).where(AuditEvent.id == -1).values(id=ids[8]))
    assert first_broken(verdict(store, signer)) == ids[7]


def test_a_tail_cut_after_a_checkpoint_is_caught(
    store: Store, signed: tuple[Checkpointer, list[int]]
) -> None:
    """The bare chain verifies (fewer events); the checkpoint knows there were ten."""
    signer, ids = signed
    unseal_audit_table(store)
    with store.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id.in_(ids[7:])))
    found = verdict(store, signer)
    assert first_broken(found) == ids[-1]
    assert "truncated" in found.problems[0].message
    assert found.events == 7


def test_deleting_every_event_is_caught(
    store: Store, signed: tuple[Checkpointer, list[int]]
) -> None:
    signer, _ = signed
    unseal_audit_table(store)
    with store.db.transaction() as session:
        session.execute(delete(AuditEvent))
    found = verdict(store, signer)
    assert not found.ok and found.events == 0
    assert all("truncated" in p.message for p in found.problems)


def test_a_chain_rewritten_with_recomputed_hashes_is_caught(
    store: Store, signed: tuple[Checkpointer, list[int]]
) -> None:
    """The insider deletes one event (a leaked copy's stream, say) and recomputes every
    hash after it: the chain holds, but it no longer ends where the checkpoints say."""
    signer, ids = signed
    unseal_audit_table(store)
    with store.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == ids[2]))
        prev = GENESIS
        for position, event in enumerate(
            session.scalars(select(AuditEvent).order_by(AuditEvent.id)), start=1
        ):
            event.seq = -position
            session.flush()
            event.seq, event.prev_hash = position, prev
            event.hash = event_hash(
                prev, event.occurred_at, event.actor, event.action, event.subject, event.details
            )
            session.flush()
            prev = event.hash
    found = verdict(store, signer)
    problem = found.problems[0]
    assert "rewritten" in problem.message
    assert problem.event_id == ids[6]
    assert "position 0" in problem.message


def test_a_forged_checkpoint_is_refused(
    store: Store, signed: tuple[Checkpointer, list[int]]
) -> None:
    """A checkpoint signed by another key, and a real one whose count was edited."""
    signer, _ = signed
    mallory = Ed25519PrivateKey.generate()
    forged = Checkpoint(
        seq=3, event_id=1, head="0" * 64, at=utcnow().isoformat(), key_id=signer.key_id
    )
    signer.folder.write(forged.signed_with(mallory))
    found = verdict(store, signer)
    assert any("forged" in p.message for p in found.problems)
    real = next(signer.folder.directory.glob("000000000006-*"))
    fields = json.loads(real.read_text())
    real.write_text(json.dumps(fields | {"seq": 5}))
    messages = [p.message for p in verdict(store, signer).problems]
    assert sum("signature does not verify" in m for m in messages) == 2


def test_checkpoints_are_written_every_n_events(store: Store) -> None:
    """The first event is signed at once (no checkpoint is older than any), then every
    fourth after it."""
    signer = checkpointer(store, every_events=4).attach()
    append(store, 9)
    written = [f.checkpoint.seq for f in signer.folder.files() if f.checkpoint]
    assert written == [1, 5, 9]


def test_a_quiet_log_is_signed_after_t_seconds(store: Store) -> None:
    signer = checkpointer(store, every_events=1000, every_seconds=0.05).attach()
    append(store, 1)
    signer.tick()
    assert signer.folder.latest() is not None
    assert signer.folder.latest().seq == 1
    append(store, 1)
    signer._signed_at = utcnow() - timedelta(seconds=1)
    assert signer.tick() is not None and signer.folder.latest().seq == 2
    assert signer.tick() is None, "an unchanged head is not signed again"


def test_the_signing_key_lives_alone_and_private(store: Store) -> None:
    signer = checkpointer(store)
    path = store.settings.workspace / store.settings.audit_signing_key_file
    assert path.stat().st_mode & 0o777 == 0o600
    assert (
        public_key_path(path).read_text().strip()
        == signer.key.public_key().public_bytes_raw().hex()
    )
    os.chmod(path, 0o644)
    with pytest.raises(CheckpointError, match="readable by others"):
        load_or_create_signing_key(path)


def test_an_existing_checkpoint_file_is_never_rewritten(tmp_path: Path) -> None:
    folder = CheckpointFolder(tmp_path / "cp")
    key = Ed25519PrivateKey.generate()
    first = Checkpoint(1, 1, "a" * 64, "2026-12-07T00:00:00+00:00", "k").signed_with(key)
    path = folder.write(first)
    folder.write(Checkpoint(1, 1, "a" * 64, "2027-01-01T00:00:00+00:00", "k").signed_with(key))
    assert Checkpoint.from_json(path.read_text()) == first
    assert [p.name for p in folder.directory.iterdir()] == [path.name]


def test_cli_verify_names_the_broken_event_and_exits_non_zero(store: Store) -> None:
    workspace = str(store.settings.workspace)
    env = {"EARMUFF_DATABASE_URL": store.settings.database_url}
    note_policy(store, "test")
    ids = append(store, 4)
    signed = runner.invoke(app, ["audit", "checkpoint", "-w", workspace], env=env)
    assert signed.exit_code == 0, signed.output
    assert "signed event 5" in signed.output
    ok = runner.invoke(app, ["audit", "verify", "-w", workspace], env=env)
    assert ok.exit_code == 0, ok.output
    assert "OK: 5 events, 1 checkpoint(s)" in ok.output
    unseal_audit_table(store)
    with store.db.transaction() as session:
        session.execute(delete(AuditEvent).where(AuditEvent.id == ids[-1]))
    broken = runner.invoke(app, ["audit", "verify", "-w", workspace], env=env)
    assert broken.exit_code == 1
    assert f"event {ids[-1]}" in broken.output and "truncated" in broken.output


def test_an_export_verifies_alone_and_catches_an_edit(store: Store, tmp_path: Path) -> None:
    workspace = str(store.settings.workspace)
    env = {"EARMUFF_DATABASE_URL": store.settings.database_url}
    note_policy(store, "test")
    append(store, 3)
    since = utcnow()
    append(store, 4)
    out = tmp_path / "export.jsonl"
    made = runner.invoke(
        app,
        ["audit", "export", "--since", since.isoformat(), "--out", str(out), "-w", workspace],
        env=env,
    )
    assert made.exit_code == 0, made.output
    lines = out.read_text().splitlines()
    assert len(lines) == 1 + 4 + 1, "the header, four events and the export's own event"
    public = public_key_path(store.settings.workspace / store.settings.audit_signing_key_file)
    checked = runner.invoke(
        app, ["audit", "verify", "--export", str(out), "--public-key", str(public)]
    )
    assert checked.exit_code == 0, checked.output
    assert "OK: 5 events" in checked.output
    event = json.loads(lines[2])
    lines[2] = json.dumps(event | {"subject": "item:else"})
    out.write_text("\n".join(lines) + "\n")
    tampered = runner.invoke(
        app, ["audit", "verify", "--export", str(out), "--public-key", str(public)]
    )
    assert tampered.exit_code == 1
    assert f"event {event['id']}" in tampered.output
    again = runner.invoke(
        app,
        ["audit", "export", "--since", since.isoformat(), "--out", str(out), "-w", workspace],
        env=env,
    )
    assert again.exit_code == 1 and "exists" in again.output


@pytest.mark.postgres
def test_the_application_role_may_only_append_to_the_audit_log(store: Store) -> None:
    """Even with the triggers gone, the server's own role cannot change the past."""
    if store.db.dialect != "postgresql":
        pytest.skip("roles are PostgreSQL's")
    role = f"earmuff_app_{uuid.uuid4().hex[:8]}"
    with store.db.engine.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(
            text(f'GRANT CONNECT ON DATABASE "{store.db.engine.url.database}" TO "{role}"')
        )
        grant_application_role(conn, role)
    unseal_audit_table(store)
    as_app = create_engine(make_url(store.settings.database_url).set(username=role, password=None))
    try:
        with as_app.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO audit_events (seq, occurred_at, actor, action, subject, details,"
                    " prev_hash, hash) VALUES (1, now(), 'a', 'b', 'c', '{}', :g, :h)"
                ),
                {"g": GENESIS, "h": "f" * 64},
            )
            assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 1
            conn.execute(text("UPDATE staff_users SET locales = locales"))
        for statement in (
            "UPDATE audit_events SET actor = 'x'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        ):
            with pytest.raises(DBAPIError, match="permission denied"), as_app.begin() as conn:
                conn.execute(text(statement))
    finally:
        as_app.dispose()
        with store.db.engine.begin() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))


def test_a_checkpoint_that_cannot_be_written_does_not_undo_the_commit(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The folder is gone (here: a file stands where it should be); the events commit."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    signer = checkpointer(store, every_events=1)
    signer.folder = CheckpointFolder(blocker / "checkpoints")
    signer.attach()
    append(store, 2)
    with store.db.read() as session:
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 2
    assert "could not write an audit checkpoint" in caplog.text
