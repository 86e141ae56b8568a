"""Nothing identifying left behind: a household's whole life, as operators and the app
run it, then a search of the audit log, the logs, every table and the database file's
bytes for its account number, first name and device serial; and file modes."""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text
from typer.testing import CliRunner

from earmuff.cli.main import app
from earmuff.config import Settings
from earmuff.owner.deletion import delete_everything
from earmuff.owner.holds import release_legal_hold, set_legal_hold
from earmuff.store import open_store
from earmuff.store.crypto import pseudonym
from earmuff.store.models import Account, AuditEvent
from earmuff.store.staff import create_staff
from earmuff.web import create_app
from tests.audio_samples import wav
from tests.web.conftest import RegisteredDevice, upload

ACCOUNT = "ACC-2718281828"
NAME = "Philippa"
SERIAL = "SN-ZX-9081726354"
SECRETS = (ACCOUNT, NAME, SERIAL)
SERIAL_S = ("--serial", "S")
runner = CliRunner()


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def assert_nothing_identifying(where: str, text_: str) -> None:
    for secret in SECRETS:
        assert secret.lower() not in text_.lower(), f"{secret!r} found in {where}"


def test_a_household_leaves_no_identifier_in_the_audit_log_logs_or_database(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    workspace = tmp_path / "ws"
    ws = ("--workspace", str(workspace))
    first_token = cli(
        "devices", "add", *ws, "--account", ACCOUNT, "--first-name", NAME, "--serial", SERIAL
    ).splitlines()[-1]
    store = open_store(Settings.for_workspace(workspace))
    with store.db.transaction() as session:
        officer = create_staff(session, store.keyring, "pat.o", "privacy_officer").user
    device = RegisteredDevice(first_token, ACCOUNT, NAME, SERIAL)
    with TestClient(create_app(store=store)) as client:
        assert upload(client, device.token, device.metadata(), wav(1.0), "a").status_code == 201

        cli("accounts", "consent", ACCOUNT, "--grant", *ws)
        link = cli("accounts", "login-link", ACCOUNT, *ws)
        assert "/portal/sign-in?token=" in link

        token = cli("devices", "rotate", SERIAL, *ws).splitlines()[-1]
        assert token != first_token
        refused = upload(client, first_token, device.metadata(), wav(1.0), "b")
        assert refused.status_code == 401, "the old token is refused at once"
        device.token = token
        assert upload(client, token, device.metadata(), wav(1.0), "c").status_code == 201

        cli("devices", "revoke", SERIAL, *ws)
        assert upload(client, token, device.metadata(), wav(1.0), "d").status_code == 401
        again = cli(
            "devices", "add", *ws, "--account", ACCOUNT, "--first-name", NAME, "--serial", SERIAL
        ).splitlines()[-1]
        assert upload(client, again, device.metadata(), wav(1.0), "e").status_code == 201

        cli("accounts", "consent", ACCOUNT, "--withdraw", *ws)
        with store.db.read() as session:
            account_id = session.scalar(select(Account.id).where(Account.external_id == ACCOUNT))
        assert account_id is not None
        set_legal_hold(store, account_id, "court order 17", officer)
        assert delete_everything(store, account_id, "owner").status == "held"
        release_legal_hold(store, account_id, officer, "case closed")

    with store.db.read() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
        account = session.get(Account, account_id)
        assert account is not None and account.deleted_at is not None
    actions = {event.action for event in events}
    assert {"device.registered", "device.token_rotated", "device.revoked"} <= actions
    assert {"legal_hold.set", "legal_hold.released", "deletion.completed"} <= actions
    for event in events:
        row = json.dumps([event.actor, event.action, event.subject, event.details])
        assert_nothing_identifying(f"audit event {event.action}", row)
    tag = pseudonym(store.keyring, "serial", SERIAL)
    tagged = [e for e in events if e.details.get("serial_tag") == tag]
    assert len(tagged) == 4, "the serial is named by its keyed tag, which the key can check"
    assert_nothing_identifying("the log output", caplog.text)

    # Every row of every table, then the file's bytes (the deletion checkpointed the WAL).
    with store.db.read() as session:
        for table in inspect(session.get_bind()).get_table_names():
            for row in session.execute(text(f'SELECT * FROM "{table}"')):
                assert ACCOUNT not in repr(tuple(row)), f"the account number is in {table}"
                assert SERIAL not in repr(tuple(row)), f"the serial is in {table}"
    store.close()
    for name in ("earmuff.db", "earmuff.db-wal"):
        path = workspace / name
        if path.exists():
            data = path.read_bytes()
            for secret in SECRETS:
                assert secret.encode() not in data, f"{secret!r} is in the bytes of {name}"

    # Nothing in the workspace is open to the group or to others.
    modes = {workspace: stat.S_IMODE(workspace.stat().st_mode)}
    for folder, dirs, files in os.walk(workspace):
        for name in dirs + files:
            path = Path(folder, name)
            modes[path] = stat.S_IMODE(path.stat().st_mode)
    assert modes[workspace] == 0o700
    assert modes[workspace / "blobs"] == 0o700
    assert modes[workspace / "earmuff.db"] == 0o600
    assert modes[workspace / "master.key"] == 0o600
    open_to_others = {str(p): oct(m) for p, m in modes.items() if m & 0o077}
    assert not open_to_others


def test_revoking_or_rotating_an_unknown_serial_is_an_error_and_changes_nothing(
    tmp_path: Path,
) -> None:
    workspace = str(tmp_path / "ws")
    cli("devices", "add", "-w", workspace, "--account", "A-1", "--first-name", "J", "--serial", "S")
    for command in ("revoke", "rotate"):
        result = runner.invoke(app, ["devices", command, "NOPE", "-w", workspace])
        assert result.exit_code == 1 and "no active device" in result.output
    cli("devices", "revoke", "S", "-w", workspace)
    result = runner.invoke(app, ["devices", "revoke", "S", "-w", workspace])
    assert result.exit_code == 1, "a revoked device cannot be revoked twice"
    taken = runner.invoke(
        app,
        ["devices", "add", "-w", workspace, "--account", "A-2", "--first-name", "K", *SERIAL_S],
    )
    assert taken.exit_code == 0, "a revoked serial can be registered again"
    twice = runner.invoke(
        app,
        ["devices", "add", "-w", workspace, "--account", "A-3", "--first-name", "L", *SERIAL_S],
    )
    assert twice.exit_code == 1 and "already registered" in twice.output


def test_keys_rotate_from_the_command_line_is_audited(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    cli(
        "devices",
        "add",
        "-w",
        str(workspace),
        "--account",
        "A",
        "--first-name",
        "J",
        "--serial",
        "S",
    )
    output = cli("keys", "rotate", "--grace", "0", "-w", str(workspace))
    assert "1 account key(s)" in output and "retired" in output
    assert len((workspace / "master.key").read_text().split()) == 1
    store = open_store(Settings.for_workspace(workspace))
    try:
        with store.db.read() as session:
            actions = list(session.scalars(select(AuditEvent.action)))
    finally:
        store.close()
    assert actions[-2:] == ["keys.rotation_started", "keys.rotated"]
