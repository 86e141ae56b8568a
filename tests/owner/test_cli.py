"""The owner's side from the ``earmuff`` command, as an operator types it."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from earmuff.cli.main import app
from earmuff.store.models import Account, AuditEvent, Recording, utcnow
from earmuff.web import create_app
from tests.owner.conftest import World
from tests.workbench.staff import Person, add_person, typed_sign_in

runner = CliRunner()


def earmuff(world: World, *args: str, input: str | None = None) -> tuple[int, str]:
    settings = world.store.settings
    result = runner.invoke(
        app,
        [*args, "--workspace", str(settings.workspace)],
        env={"EARMUFF_DATABASE_URL": settings.database_url},
        input=input,
    )
    return result.exit_code, result.output


def _typed(world: World, person: Person) -> str:
    return typed_sign_in(world.store, person)


def earmuff_as(world: World, person: Person, *args: str) -> tuple[int, str]:
    return earmuff(world, *args, "--as", person.username, input=_typed(world, person))


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


def test_a_hold_from_the_command_line_needs_a_signed_in_privacy_officer(world: World) -> None:
    home = world.home()
    officer = add_person(world.store, "olivia", "privacy_officer")
    annotator = add_person(world.store, "arno", "annotator")
    hold = ("accounts", "hold", home.external_id, "--reason", "case 9")
    code, output = earmuff_as(world, annotator, *hold)
    assert code == 1 and "may not do this" in output
    code, output = earmuff(world, *hold, "--as", "ghost", input="whatever-password\n123456\n")
    assert code == 1 and "wrong username or password" in output
    code, output = earmuff(world, *hold, "--as", officer.username, input=_typed(world, officer))
    assert code == 0 and "deletion suspended" in output
    with world.store.db.read() as session:
        account = session.scalar(select(Account).where(Account.id == home.account_id))
        assert account is not None and account.legal_hold_reason == "case 9"
    release = ("accounts", "release", home.external_id, "--as", officer.username)
    code, output = earmuff(world, *release, "--note", "settled", input=_typed(world, officer))
    assert code == 0 and "hold released" in output
    code, output = earmuff(world, *release, "--note", "again", input=_typed(world, officer))
    assert code == 1 and "not on legal hold" in output


def test_a_hold_refuses_a_wrong_password_or_code_and_audits_it(world: World) -> None:
    home = world.home()
    officer = add_person(world.store, "olivia", "privacy_officer")
    hold = ("accounts", "hold", home.external_id, "--reason", "case 9", "--as", "olivia")
    code, output = earmuff(world, *hold, input="not-the-password\n" + officer.code() + "\n")
    assert code == 1 and "wrong username or password" in output
    code, output = earmuff(world, *hold, input=officer.password + "\n000000\n")
    assert code == 1 and "wrong or already used code" in output
    with world.store.db.read() as session:
        account = session.scalar(select(Account).where(Account.id == home.account_id))
        assert account is not None and account.legal_hold_reason is None
        failures = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "staff.sign_in_failed")
        ).all()
    assert [event.details["factor"] for event in failures] == ["password", "code"]
    assert all(event.subject == f"staff:{officer.id}" for event in failures)
    for event in failures:
        assert officer.password not in str(event.details)


def test_repeated_failures_from_the_command_line_lock_the_account(world: World) -> None:
    home = world.home()
    add_person(world.store, "olivia", "privacy_officer")
    hold = ("accounts", "hold", home.external_id, "--reason", "case 9", "--as", "olivia")
    for _ in range(5):
        code, _output = earmuff(world, *hold, input="not-the-password\n000000\n")
        assert code == 1
    with world.store.db.read() as session:
        actions = session.scalars(select(AuditEvent.action)).all()
    assert actions.count("staff.sign_in_failed") == 5
    assert actions.count("staff.locked_out") == 1
