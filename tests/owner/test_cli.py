"""The owner's side from the ``earmuff`` command, as an operator types it."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from earmuff.cli.main import app
from earmuff.store.models import Account, Recording, utcnow
from earmuff.web import create_app
from tests.owner.conftest import World

runner = CliRunner()


def earmuff(world: World, *args: str) -> tuple[int, str]:
    settings = world.store.settings
    result = runner.invoke(
        app,
        [*args, "--workspace", str(settings.workspace)],
        env={"EARMUFF_DATABASE_URL": settings.database_url},
    )
    return result.exit_code, result.output


def test_login_link_prints_a_link_that_signs_the_owner_in(world: World) -> None:
    home = world.home()
    code, output = earmuff(
        world, "accounts", "login-link", home.external_id, "--base-url", "https://me.example"
    )
    assert code == 0
    link = output.strip().splitlines()[-1]
    assert link.startswith("https://me.example/portal/sign-in?token=eml_")
    token = link.split("token=")[1]
    with TestClient(create_app(store=world.store), base_url="https://testserver") as browser:
        assert browser.post("/portal/sign-in", data={"token": token}).status_code == 200
        assert "Nobody listens" in browser.get("/portal").text
    code, output = earmuff(world, "accounts", "login-link", "ACC-NOBODY")
    assert code == 1 and "no account ACC-NOBODY" in output


def test_consent_from_the_command_line_withdraws_at_once(world: World) -> None:
    home = world.home()
    code, output = earmuff(world, "accounts", "consent", home.external_id, "--grant")
    assert code == 0 and "allowed (disclosure-1)" in output
    world.run(home.upload())
    code, output = earmuff(world, "accounts", "consent", home.external_id, "--withdraw")
    assert code == 0 and "1 waiting and 0 reviewed copies withdrawn" in output
    code, output = earmuff(
        world, "accounts", "consent", home.external_id, "--grant", "--disclosure", "v0"
    )
    assert code == 1 and "known versions: disclosure-1" in output


def test_retention_run_acts_as_of_the_time_given(world: World) -> None:
    home = world.home()
    recording_id = home.upload()
    code, output = earmuff(world, "retention", "run")
    assert code == 0 and "recordings: 0" in output
    later = (utcnow() + timedelta(days=600)).isoformat()
    code, output = earmuff(world, "retention", "run", "--now", later)
    assert code == 0 and "recordings: 1" in output
    with world.store.db.read() as session:
        assert session.get(Recording, recording_id) is None
    code, output = earmuff(world, "retention", "run", "--now", "2027-01-01T00:00:00")
    assert code == 1 and "needs a time zone" in output
    code, output = earmuff(world, "retention", "run", "--now", "next week")
    assert code == 1 and "not an ISO 8601 time" in output


def test_a_hold_from_the_command_line_needs_a_privacy_officer(world: World) -> None:
    home = world.home()
    officer, annotator = world.staff("privacy_officer"), world.staff("annotator")
    hold = ("accounts", "hold", home.external_id, "--reason", "case 9")
    code, output = earmuff(world, *hold, "--by", annotator.username)
    assert code == 1 and "only an active privacy officer" in output
    code, output = earmuff(world, *hold, "--by", "ghost")
    assert code == 1 and "no staff user ghost" in output
    code, output = earmuff(world, *hold, "--by", officer.username)
    assert code == 0 and "deletion suspended" in output
    with world.store.db.read() as session:
        account = session.scalar(select(Account).where(Account.id == home.account_id))
        assert account is not None and account.legal_hold_reason == "case 9"
    release = ("accounts", "release", home.external_id, "--by", officer.username)
    code, output = earmuff(world, *release, "--note", "settled")
    assert code == 0 and "hold released" in output
    code, output = earmuff(world, *release, "--note", "again")
    assert code == 1 and "not on legal hold" in output
