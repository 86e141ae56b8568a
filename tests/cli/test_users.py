"""``earmuff users add``: the first admin alone, everyone after that by two admins."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from earmuff.cli.main import app
from earmuff.config import Settings
from earmuff.store import open_store
from earmuff.store.models import AuditEvent, StaffProposal, StaffUser
from earmuff.web import create_app

runner = CliRunner()
PASSWORD = "a long passphrase of my own"


def users_add(workspace: Path, *args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["users", "add", *args, "--workspace", str(workspace)], input=input)
    return result.exit_code, result.output


def test_the_first_admin_enrols_alone_and_then_accounts_need_a_signed_in_admin(
    tmp_path: Path,
) -> None:
    code, output = users_add(tmp_path, "ana", "--role", "annotator")
    assert code == 1 and "first account must be an admin" in output
    code, output = users_add(tmp_path, "root", "--role", "admin")
    assert code == 0, output
    link = re.search(r"^link\s+http://127\.0\.0\.1:8000(/enrol/\S+)$", output, re.M)
    approval = re.search(r"^code\s+([A-Z0-9]{8})$", output, re.M)
    assert link and approval, output
    assert "password" not in output.lower().replace("choose a password", "")
    store = open_store(Settings.for_workspace(tmp_path))
    try:
        with TestClient(create_app(store=store), base_url="https://testserver") as client:
            setup = client.post(link.group(1), data={"approval_code": approval.group(1)})
            secret_match = re.search(r'<code id="manual-key">([^<]+)</code>', setup.text)
            assert secret_match, setup.text
            secret = secret_match.group(1)
            done = client.post(
                link.group(1),
                data={
                    "approval_code": approval.group(1),
                    "password": PASSWORD,
                    "password_again": PASSWORD,
                    "code": pyotp.TOTP(secret).now(),
                },
            )
            assert done.status_code == 200, done.text
        with store.db.read() as session:
            root = session.scalar(select(StaffUser).where(StaffUser.username == "root"))
            assert root is not None and root.role == "admin"
    finally:
        store.close()

    code, output = users_add(tmp_path, "eve", "--role", "admin")
    assert code == 1 and "--as" in output
    code, output = users_add(
        tmp_path, "ana", "--role", "annotator", "--as", "root", input="wrong password\n000000\n"
    )
    assert code == 1 and "wrong username or password" in output
    next_code = pyotp.TOTP(secret).at(datetime.now(UTC) + timedelta(seconds=30))
    typed = f"{PASSWORD}\n{next_code}\n"
    code, output = users_add(tmp_path, "ana", "--role", "annotator", "--as", "root", input=typed)
    assert code == 0, output
    assert "a different admin must approve" in output
    store = open_store(Settings.for_workspace(tmp_path))
    try:
        with store.db.read() as session:
            assert session.scalar(select(StaffUser).where(StaffUser.username == "ana")) is None
            proposal = session.scalars(select(StaffProposal)).one()
            assert proposal.username == "ana" and proposal.status == "pending"
            events = list(session.scalars(select(AuditEvent)))
    finally:
        store.close()
    names = [event.action for event in events]
    assert "staff.sign_in_failed" in names and "staff.proposed" in names
    for event in events:
        assert PASSWORD not in str(event.details) and secret not in str(event.details)
        assert approval.group(1) not in str(event.details)
