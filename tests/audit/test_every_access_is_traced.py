"""Every route and command that reads or changes protected data leaves an audit event.

The tables below classify every route of the app and every CLI command: either the
event it must append, or why it touches nothing protected. A route or command that
is in neither table fails the first tests, so nothing new is added without deciding
what it leaves in the log; the walk then calls every traced route once, in a real
day's order, and fails when one appends no event of its kind.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import typer.main
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func, select
from typer.testing import CliRunner

from earmuff.audit.misuse import scan
from earmuff.cli.main import app as cli_app
from earmuff.owner.login import issue_login_link
from earmuff.review.escalation import ESCALATING_FLAGS, open_case
from earmuff.store import Store
from earmuff.store.models import (
    Annotation,
    AuditEvent,
    SecondListen,
    StaffEnrolment,
    StaffProposal,
    StaffUser,
    utcnow,
)
from earmuff.store.vault import items_of_recordings
from earmuff.web import create_app
from tests.audio_samples import wav
from tests.owner.conftest import Home, World
from tests.review.conftest import household_recording, make_item
from tests.workbench.staff import Person, add_person, csrf_of, sign_in, typed_sign_in

TRACED: dict[tuple[str, str], str] = {
    ("POST", "/login"): "staff.sign_in_failed",
    ("POST", "/login/code"): "staff.signed_in",
    ("POST", "/logout"): "staff.signed_out",
    ("POST", "/admin/users"): "staff.proposed",
    ("POST", "/admin/users/{user_id}"): "staff.changed",
    ("POST", "/admin/proposals/{proposal_id}"): "staff.approved",
    ("POST", "/enrol/{token}"): "staff.enrolment_code_failed",
    ("POST", "/workbench/second-listen"): "second_listen.requested",
    ("GET", "/api/workbench/audio/{token}"): "audio.streamed",
    ("POST", "/second-listens/{request_id}/answer"): "second_listen.answered",
    ("GET", "/api/second-listens/audio/{token}"): "audio.streamed",
    ("POST", "/safety/cases/{case_id}"): "safety.case_triaged",
    ("GET", "/api/safety/audio/{token}"): "audio.streamed",
    ("POST", "/api/audit/trace"): "audit.leak_traced",
    ("POST", "/audit/alerts/{alert_id}/acknowledge"): "misuse.acknowledged",
    ("POST", "/qa/gold"): "review.gold_set",
    ("POST", "/holds"): "legal_hold.set",
    ("POST", "/holds/release"): "legal_hold.released",
    ("POST", "/reidentify"): "reidentification.requested",
    ("POST", "/reidentify/{request_id}/approve"): "reidentification.approved",
    ("POST", "/reidentify/{request_id}/refuse"): "reidentification.refused",
    ("POST", "/reidentify/{request_id}/withdraw"): "reidentification.withdrawn",
    ("POST", "/reidentify/{request_id}/open"): "reidentification.opened",
    ("POST", "/portal/sign-in"): "owner.signed_in",
    ("POST", "/portal/sign-out"): "owner.signed_out",
    ("POST", "/portal/consent"): "consent.withdrawn",
    ("GET", "/portal/recordings/{recording_id}/audio"): "owner.audio_played",
    ("GET", "/portal/recordings/{recording_id}/copies/{item_id}/audio"): "owner.audio_played",
    ("POST", "/portal/recordings/{recording_id}/delete"): "deletion.completed",
    ("POST", "/portal/delete"): "deletion.completed",
    ("POST", "/portal/settings/retention"): "retention.choice",
    ("GET", "/portal/export"): "owner.exported",
    ("POST", "/v1/owner/session"): "owner.signed_in",
    ("DELETE", "/v1/owner/session"): "owner.signed_out",
    ("PUT", "/v1/owner/consent"): "consent.withdrawn",
    ("GET", "/v1/owner/recordings/{recording_id}/audio"): "owner.audio_played",
    ("GET", "/v1/owner/recordings/{recording_id}/copies/{item_id}/audio"): "owner.audio_played",
    ("DELETE", "/v1/owner/recordings/{recording_id}"): "deletion.completed",
    ("POST", "/v1/owner/deletions"): "deletion.completed",
    ("PUT", "/v1/owner/retention"): "retention.choice",
    ("GET", "/v1/owner/export"): "owner.exported",
}
"""Route → the event it must append."""

NO_PROTECTED_DATA = "shows or changes nothing protected"
OWN_VIEW = "the household reading its own account (no audio, no export)"
STREAMED_LATER = "signs a short-lived URL; fetching the audio is what is audited"
LEASE_WORK = "work inside a lease the reviewer holds; the lease and annotation rows record it"
UNTRACED: dict[tuple[str, str], str] = {
    ("POST", "/v1/recordings"): "a device adding its own recording; the recordings table "
    "records it, and an event per upload would put every upload through the log's lock",
    ("GET", "/v1/devices/me"): "a device reading its own registration",
    ("GET", "/"): NO_PROTECTED_DATA,
    ("GET", "/healthz"): NO_PROTECTED_DATA,
    ("GET", "/api/staff/me"): "a person reading their own profile",
    ("GET", "/login"): NO_PROTECTED_DATA,
    ("GET", "/login/code"): NO_PROTECTED_DATA,
    ("GET", "/admin/users"): "the staff list (names and roles, no secrets)",
    ("GET", "/enrol/{token}"): "asks for the approval code; shows nothing until it is given",
    ("GET", "/workbench"): LEASE_WORK,
    ("POST", "/workbench/next"): LEASE_WORK,
    ("POST", "/workbench/submit"): LEASE_WORK,
    ("POST", "/workbench/skip"): LEASE_WORK,
    ("POST", "/workbench/stop"): LEASE_WORK,
    ("POST", "/api/workbench/renew"): LEASE_WORK,
    ("POST", "/api/workbench/audio-url"): STREAMED_LATER,
    ("GET", "/second-listens"): "the list of open requests (no audio, no transcript)",
    ("GET", "/second-listens/{request_id}"): "the request's page; its audio is audited",
    ("POST", "/api/second-listens/{request_id}/audio-url"): STREAMED_LATER,
    ("GET", "/safety"): "the list of cases; each step on a case is audited",
    ("GET", "/safety/cases/{case_id}"): "the case's page; its audio is audited",
    ("POST", "/api/safety/cases/{case_id}/audio-url"): STREAMED_LATER,
    ("GET", "/audit"): "the audit log itself, to its officers",
    ("GET", "/audit/alerts"): "the misuse alerts, to the officers who audit; acknowledging "
    "one is audited, as raising it was",
    ("GET", "/qa"): "agreement figures, no audio",
    ("GET", "/holds"): "the list of holds; setting and releasing are audited",
    ("GET", "/reidentify"): "the list of requests; every step on one is audited",
    ("GET", "/portal/sign-in"): NO_PROTECTED_DATA,
    ("GET", "/portal"): OWN_VIEW,
    ("GET", "/portal/recordings"): OWN_VIEW,
    ("GET", "/portal/recordings/{recording_id}"): OWN_VIEW,
    ("GET", "/portal/delete"): OWN_VIEW,
    ("GET", "/portal/receipts"): OWN_VIEW,
    ("GET", "/portal/receipts/{receipt_id}"): OWN_VIEW,
    ("GET", "/portal/report"): OWN_VIEW,
    ("GET", "/portal/settings"): OWN_VIEW,
    ("GET", "/portal/consent-history"): OWN_VIEW,
    ("GET", "/portal/disclosures/{sha256}"): OWN_VIEW,
    ("GET", "/v1/owner/me"): OWN_VIEW,
    ("GET", "/v1/owner/consent/history"): OWN_VIEW,
    ("GET", "/v1/owner/recordings"): OWN_VIEW,
    ("GET", "/v1/owner/recordings/{recording_id}"): OWN_VIEW,
    ("GET", "/v1/owner/receipts"): OWN_VIEW,
    ("GET", "/v1/owner/receipts/{receipt_id}"): OWN_VIEW,
    ("GET", "/v1/owner/report"): OWN_VIEW,
}
"""Route → why it needs no event of its own."""

TRACED_COMMANDS: dict[str, str] = {
    "devices add": "device.registered",
    "devices revoke": "device.revoked",
    "devices rotate": "device.token_rotated",
    "accounts consent": "consent.granted",
    "accounts login-link": "owner.login_link_issued",
    "accounts hold": "legal_hold.set",
    "accounts release": "legal_hold.released",
    "users add": "staff.proposed",
    "export": "export.written",
    "retention run": "retention.run",
    "audit export": "audit.exported",
    "keys rotate": "keys.rotated",
    "watermark identify": "audit.leak_traced",
    "reidentify request": "reidentification.requested",
    "reidentify approve": "reidentification.approved",
    "reidentify refuse": "reidentification.refused",
    "reidentify show": "reidentification.opened",
}
"""Command → the event it appends."""

UNTRACED_COMMANDS: dict[str, str] = {
    "init": "creates an empty workspace",
    "serve": "runs the server, whose routes are walked here",
    "worker": "runs pipeline stages: machines, not people, read the audio",
    "pipeline run": "runs pipeline stages: machines, not people, read the audio",
    "ingest": "uploads through the device API",
    "demo": "a fresh demo workspace of its own",
    "db grant-app-role": "grants database privileges; no data is read",
    "audit verify": "reads the log to check it; changes nothing",
    "audit checkpoint": "signs the log's head; changes nothing",
    "audit scan": "reads the log and the rows it names; each alert it raises appends misuse.alert",
    "watermark embed": "marks a file the operator supplies; no workspace data",
}
EVAL = "evaluation on the speech corpus, never on the workspace's data"

runner = CliRunner()


def routes(app: FastAPI) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        inner = route.original_router.routes if hasattr(route, "original_router") else [route]
        for each in inner:
            if isinstance(each, APIRoute):
                found |= {(method, each.path) for method in each.methods - {"HEAD"}}
    return found


def commands(group: Any, prefix: str = "") -> Iterator[str]:
    """Every command's full name; a group is whatever has commands of its own."""
    for name, command in group.commands.items():
        full = f"{prefix}{name}"
        if hasattr(command, "commands"):
            yield from commands(command, full + " ")
        else:
            yield full


def test_every_route_is_classified(store: Store) -> None:
    found = routes(create_app(store=store))
    assert not set(TRACED) & set(UNTRACED)
    assert found - set(TRACED) - set(UNTRACED) == set(), "classify these routes"
    assert (set(TRACED) | set(UNTRACED)) - found == set(), "these routes no longer exist"


def test_every_command_is_classified() -> None:
    found = set(commands(typer.main.get_command(cli_app)))
    untraced = set(UNTRACED_COMMANDS) | {c for c in found if c.startswith("eval ")}
    assert found - set(TRACED_COMMANDS) - untraced == set(), "classify these commands"
    assert set(TRACED_COMMANDS) - found == set(), "these commands no longer exist"


class Walk:
    """Calls routes and checks that each traced one appended its event."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.hit: dict[tuple[str, str], str] = {}

    def seq(self) -> int:
        with self.store.db.read() as session:
            return session.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))) or 0

    def call(
        self, client: TestClient, method: str, template: str, path: str | None = None, **kw: Any
    ) -> Response:
        before = self.seq()
        response = client.request(method, path or template, follow_redirects=False, **kw)
        assert response.status_code < 400 or template in ("/login", "/enrol/{token}"), (
            template,
            response.status_code,
            response.text[:300],
        )
        with self.store.db.read() as session:
            appended = list(
                session.scalars(select(AuditEvent.action).where(AuditEvent.seq > before))
            )
        expected = TRACED[(method, template)]
        assert expected in appended, (method, template, appended)
        self.hit[(method, template)] = expected
        return response


def staff_client(store: Store, person: Person) -> tuple[TestClient, str]:
    client = TestClient(create_app(store=store), base_url="https://testserver")
    return client, sign_in(client, person)


def link(store: Store, home: Home) -> str:
    with store.db.transaction() as session:
        token, _ = issue_login_link(session, home.external_id, store.settings.policy.owner)
    return token


def portal_csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/portal").text)
    assert found, "the portal page carries a CSRF token"
    return found.group(1)


def lease_of(client: TestClient, csrf: str) -> str:
    page = client.post("/workbench/next", data={"csrf_token": csrf})
    found = re.search(r'name="lease_id" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def request_ids(html: str) -> list[str]:
    return re.findall(r'id="request-([0-9a-f]{32})"', html)


def household(world: World, external_id: str) -> tuple[Home, str, str, str]:
    """A household that allowed review, with a reviewed-to-be recording and a spare."""
    home = world.home(external_id)
    home.allow()
    reviewed = home.upload(text="alexa what is the weather")
    world.run(reviewed)
    spare = home.upload(text="alexa stop")
    world.run(spare)
    with world.store.db.read() as session:
        item_id = items_of_recordings(session, world.store.keyring, [reviewed])[reviewed][0]
    return home, reviewed, spare, item_id


def test_every_traced_route_appends_its_event(store: Store) -> None:
    world = World(store)
    walk = Walk(store)
    portal_home, portal_recording, portal_spare, portal_item = household(world, "ACC-PORTAL")
    api_home, api_recording, api_spare, api_item = household(world, "ACC-API")
    people = {
        role: add_person(store, f"p-{role.replace('_', '-')}", role, safety_pool=True)
        for role in ("annotator", "qa_reviewer", "safety_officer", "privacy_officer", "admin")
    }
    second_admin = add_person(store, "p-admin-two", "admin")
    clients = {role: staff_client(store, person) for role, person in people.items()}

    # A reviewer's day: lease, hear, ask a colleague, who hears the span and answers.
    annotator, a_csrf = clients["annotator"]
    lease_id = lease_of(annotator, a_csrf)
    grant = annotator.post(
        "/api/workbench/audio-url", json={"lease_id": lease_id}, headers={"X-CSRF-Token": a_csrf}
    ).json()
    token = grant["url"].rsplit("/", 1)[-1]
    heard = walk.call(
        annotator, "GET", "/api/workbench/audio/{token}", f"/api/workbench/audio/{token}"
    )
    walk.call(
        annotator,
        "POST",
        "/workbench/second-listen",
        data={"csrf_token": a_csrf, "lease_id": lease_id, "start_s": "0", "end_s": "0.4"},
    )
    with store.db.read() as session:
        listen_id = session.scalars(select(SecondListen.id)).one()
    qa, q_csrf = clients["qa_reviewer"]
    span = qa.post(
        f"/api/second-listens/{listen_id}/audio-url", headers={"X-CSRF-Token": q_csrf}
    ).json()
    span_token = span["url"].rsplit("/", 1)[-1]
    walk.call(
        qa, "GET", "/api/second-listens/audio/{token}", f"/api/second-listens/audio/{span_token}"
    )
    walk.call(
        qa,
        "POST",
        "/second-listens/{request_id}/answer",
        f"/second-listens/{listen_id}/answer",
        data={"csrf_token": q_csrf, "suggestion": "weather"},
    )
    annotator.post(
        "/workbench/submit",
        data={
            "csrf_token": a_csrf,
            "lease_id": lease_id,
            "transcript": "alexa what is the weather",
        },
    )
    with store.db.read() as session:
        annotation_id = session.scalars(select(Annotation.id)).first()
    walk.call(qa, "POST", "/qa/gold", data={"csrf_token": q_csrf, "annotation_id": annotation_id})

    # The safety console: a case, a step on it, its audio.
    safety, s_csrf = clients["safety_officer"]
    with store.db.transaction() as session:
        officer = session.get(StaffUser, people["safety_officer"].id)
        case = open_case(
            session,
            api_item,
            ESCALATING_FLAGS[0],
            None,
            officer,
            store.settings.policy.workbench,
            utcnow(),
        )
        case_id = case.id
    walk.call(
        safety,
        "POST",
        "/safety/cases/{case_id}",
        f"/safety/cases/{case_id}",
        data={"csrf_token": s_csrf, "to_state": "triaged", "note": "heard it, routine"},
    )
    case_grant = safety.post(
        f"/api/safety/cases/{case_id}/audio-url", headers={"X-CSRF-Token": s_csrf}
    ).json()
    case_token = case_grant["url"].rsplit("/", 1)[-1]
    walk.call(safety, "GET", "/api/safety/audio/{token}", f"/api/safety/audio/{case_token}")

    # The privacy officer traces a leaked copy, holds an account, and with the safety
    # officer runs a re-identification each way it can end.
    privacy, p_csrf = clients["privacy_officer"]
    walk.call(
        privacy,
        "POST",
        "/api/audit/trace",
        content=heard.content,
        headers={"X-CSRF-Token": p_csrf, "content-type": "application/octet-stream"},
    )
    raised = scan(store, utcnow() - timedelta(hours=1), utcnow() + timedelta(seconds=1))
    leak = next(alert for alert in raised if alert.rule == "leak_traced")
    walk.call(
        privacy,
        "POST",
        "/audit/alerts/{alert_id}/acknowledge",
        f"/audit/alerts/{leak.id}/acknowledge",
        data={"csrf_token": p_csrf, "note": "the reviewer was asked"},
    )
    walk.call(
        privacy,
        "POST",
        "/holds",
        data={"csrf_token": p_csrf, "account": portal_home.external_id, "reason": "court order"},
    )
    walk.call(
        privacy,
        "POST",
        "/holds/release",
        data={"csrf_token": p_csrf, "account": portal_home.external_id, "note": "order lifted"},
    )
    asked: list[str] = []
    for _ in range(3):
        page = walk.call(
            safety,
            "POST",
            "/reidentify",
            data={
                "csrf_token": s_csrf,
                "item": portal_item,
                "reason": "danger",
                "fields": ["locale"],
            },
        )
        assert page.status_code == 303
    asked = request_ids(safety.get("/reidentify").text)
    withdrawn, refused, approved = asked[:3]
    walk.call(
        safety,
        "POST",
        "/reidentify/{request_id}/withdraw",
        f"/reidentify/{withdrawn}/withdraw",
        data={"csrf_token": s_csrf},
    )
    walk.call(
        privacy,
        "POST",
        "/reidentify/{request_id}/refuse",
        f"/reidentify/{refused}/refuse",
        data={"csrf_token": p_csrf, "note": "not needed"},
    )
    walk.call(
        privacy,
        "POST",
        "/reidentify/{request_id}/approve",
        f"/reidentify/{approved}/approve",
        data={"csrf_token": p_csrf, "note": "procedure step 4"},
    )
    walk.call(
        safety,
        "POST",
        "/reidentify/{request_id}/open",
        f"/reidentify/{approved}/open",
        data={"csrf_token": s_csrf},
    )

    # Admins: one proposes, another approves, the link is issued; a wrong code at the
    # enrolment page; a change to an account.
    admin, ad_csrf = clients["admin"]
    walk.call(
        admin,
        "POST",
        "/admin/users",
        data={"csrf_token": ad_csrf, "username": "newcomer", "role": "annotator"},
    )
    with store.db.read() as session:
        proposal_id = session.scalars(select(StaffProposal.id)).one()
    other, o_csrf = staff_client(store, second_admin)
    walk.call(
        other,
        "POST",
        "/admin/proposals/{proposal_id}",
        f"/admin/proposals/{proposal_id}",
        data={"csrf_token": o_csrf, "action": "approve"},
    )
    linked = admin.post(
        f"/admin/proposals/{proposal_id}", data={"csrf_token": ad_csrf, "action": "link"}
    )
    enrol = re.search(r"/enrol/([A-Za-z0-9_-]+)", linked.text)
    assert enrol, linked.text
    with store.db.read() as session:
        assert session.scalars(select(StaffEnrolment)).first() is not None
    walk.call(
        TestClient(create_app(store=store), base_url="https://testserver"),
        "POST",
        "/enrol/{token}",
        f"/enrol/{enrol.group(1)}",
        data={"approval_code": "WRONGCOD"},
    )
    walk.call(
        admin,
        "POST",
        "/admin/users/{user_id}",
        f"/admin/users/{people['annotator'].id}",
        data={"csrf_token": ad_csrf, "action": "disable"},
    )

    # Signing in and out, as a browser does.
    door = TestClient(create_app(store=store), base_url="https://testserver")
    login = door.get("/login")
    walk.call(
        door,
        "POST",
        "/login",
        data={
            "username": "p-qa-reviewer",
            "password": "wrong" * 3,
            "csrf_token": csrf_of(login.text),
        },
    )
    person = people["privacy_officer"]
    door.post(
        "/login",
        data={
            "username": person.username,
            "password": person.password,
            "csrf_token": csrf_of(door.get("/login").text),
        },
    )
    code_page = door.get("/login/code")
    walk.call(
        door,
        "POST",
        "/login/code",
        data={
            "code": person.code(utcnow() + timedelta(seconds=30)),
            "csrf_token": csrf_of(code_page.text),
        },
    )
    walk.call(
        door, "POST", "/logout", data={"csrf_token": door.get("/api/staff/me").json()["csrf_token"]}
    )

    # The households: one through the pages, one through the JSON API.
    portal = TestClient(create_app(store=store), base_url="https://testserver")
    walk.call(portal, "POST", "/portal/sign-in", data={"token": link(store, portal_home)})
    csrf = portal_csrf(portal)
    walk.call(
        portal,
        "GET",
        "/portal/recordings/{recording_id}/audio",
        f"/portal/recordings/{portal_recording}/audio",
    )
    walk.call(
        portal,
        "GET",
        "/portal/recordings/{recording_id}/copies/{item_id}/audio",
        f"/portal/recordings/{portal_recording}/copies/{portal_item}/audio",
    )
    walk.call(portal, "GET", "/portal/export")
    walk.call(
        portal, "POST", "/portal/settings/retention", data={"csrf": csrf, "raw_retention": "3m"}
    )
    walk.call(
        portal,
        "POST",
        "/portal/recordings/{recording_id}/delete",
        f"/portal/recordings/{portal_spare}/delete",
        data={"csrf": csrf},
    )
    walk.call(portal, "POST", "/portal/consent", data={"csrf": csrf, "choice": "stop"})
    walk.call(
        portal,
        "POST",
        "/portal/delete",
        data={"csrf": csrf, "scope": "everything", "confirm": "yes"},
    )
    walk.call(portal, "POST", "/portal/sign-out", data={"csrf": csrf})

    api = TestClient(create_app(store=store), base_url="https://testserver")
    signed = walk.call(api, "POST", "/v1/owner/session", json={"token": link(store, api_home)})
    header = {"X-CSRF-Token": signed.json()["csrf_token"]}
    walk.call(
        api,
        "GET",
        "/v1/owner/recordings/{recording_id}/audio",
        f"/v1/owner/recordings/{api_recording}/audio",
    )
    walk.call(
        api,
        "GET",
        "/v1/owner/recordings/{recording_id}/copies/{item_id}/audio",
        f"/v1/owner/recordings/{api_recording}/copies/{api_item}/audio",
    )
    walk.call(api, "GET", "/v1/owner/export")
    walk.call(api, "PUT", "/v1/owner/retention", json={"raw_retention": "keep"}, headers=header)
    walk.call(
        api,
        "DELETE",
        "/v1/owner/recordings/{recording_id}",
        f"/v1/owner/recordings/{api_spare}",
        headers=header,
    )
    walk.call(api, "PUT", "/v1/owner/consent", json={"choice": "withdrawn"}, headers=header)
    walk.call(
        api,
        "POST",
        "/v1/owner/deletions",
        json={"scope": "range", "first_day": "2026-11-01", "last_day": "2026-11-30"},
        headers=header,
    )
    walk.call(api, "DELETE", "/v1/owner/session", headers=header)

    assert set(walk.hit) == set(TRACED), set(TRACED) - set(walk.hit)


class CommandWalk:
    """Runs commands on one workspace and checks each traced one appended its event."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.walk = Walk(store)
        self.hit: set[str] = set()
        self.env = {"EARMUFF_DATABASE_URL": store.settings.database_url}

    def run(self, command: str, *args: str, input: str | None = None) -> str:
        before = self.walk.seq()
        argv = [*command.split(), *args, "-w", str(self.store.settings.workspace)]
        result = runner.invoke(cli_app, argv, env=self.env, input=input)
        assert result.exit_code == 0, (command, result.output)
        with self.store.db.read() as session:
            appended = list(
                session.scalars(select(AuditEvent.action).where(AuditEvent.seq > before))
            )
        assert TRACED_COMMANDS[command] in appended, (command, appended)
        self.hit.add(command)
        return result.output


def test_every_traced_command_appends_its_event(store: Store, tmp_path: Path) -> None:
    walk = CommandWalk(store)
    walk.run("users add", "chief", "--role", "admin")
    walk.run("devices add", "--account", "ACC-CLI", "--first-name", "Zed", "--serial", "SN-CLI-1")
    walk.run("devices rotate", "SN-CLI-1")
    walk.run("devices revoke", "SN-CLI-1")
    walk.run("accounts consent", "ACC-CLI", "--grant")
    walk.run("accounts login-link", "ACC-CLI")
    priya = add_person(store, "priya", "privacy_officer")
    sofia = add_person(store, "sofia", "safety_officer")

    def sign_in_as(person: Person) -> str:
        return typed_sign_in(store, person)

    walk.run(
        "accounts hold",
        "ACC-CLI",
        "--reason",
        "court order",
        "--as",
        "priya",
        input=sign_in_as(priya),
    )
    walk.run(
        "accounts release", "ACC-CLI", "--note", "lifted", "--as", "priya", input=sign_in_as(priya)
    )
    item_id = make_item(store, recording_id=household_recording(store).recording_id)
    asked = []
    for _ in range(2):
        output = walk.run(
            "reidentify request",
            "--item",
            item_id,
            "--reason",
            "danger",
            "--fields",
            "locale",
            "--as",
            "sofia",
            input=sign_in_as(sofia),
        )
        asked.append(re.search(r"request ([0-9a-f]{32})", output).group(1))  # type: ignore[union-attr]
    walk.run(
        "reidentify refuse", asked[0], "--note", "no", "--as", "priya", input=sign_in_as(priya)
    )
    walk.run(
        "reidentify approve", asked[1], "--note", "step 4", "--as", "priya", input=sign_in_as(priya)
    )
    shown = walk.run("reidentify show", asked[1], "--as", "sofia", input=sign_in_as(sofia))
    assert "en-US" in shown
    walk.run("export", "--out", str(tmp_path / "export"))
    walk.run("retention run", "--now", "2031-01-01T00:00:00Z")
    walk.run("audit export", "--since", "2026-01-01T00:00:00Z", "--out", str(tmp_path / "a.jsonl"))
    marked = tmp_path / "marked.wav"
    clip = tmp_path / "clip.wav"
    clip.write_bytes(wav(6.0, 16_000, seed=3))
    embedded = runner.invoke(
        cli_app,
        [
            "watermark",
            "embed",
            str(clip),
            str(marked),
            "--payload",
            "leak-1",
            "-w",
            str(store.settings.workspace),
        ],
        env=walk.env,
    )
    assert embedded.exit_code == 0, embedded.output
    walk.run("watermark identify", str(marked))
    walk.run("keys rotate", "--grace", "0")
    assert walk.hit == set(TRACED_COMMANDS), set(TRACED_COMMANDS) - walk.hit
