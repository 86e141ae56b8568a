"""The re-identification pages, as the two officers use them, and as the household sees
the outcome on its transparency page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from earmuff.owner.login import issue_login_link
from earmuff.review import reidentify as service
from earmuff.store import Store
from earmuff.store.models import StaffUser
from earmuff.web import create_app
from tests.review.conftest import household_recording, make_item
from tests.workbench.staff import add_person, sign_in


def officer_client(store: Store) -> TestClient:
    return TestClient(create_app(store=store), base_url="https://testserver")


def request_id_in(html: str) -> str:
    match = re.search(r'id="request-([0-9a-f]{32})"', html)
    assert match, "no request is listed"
    return match.group(1)


def test_ask_approve_and_open_once_through_the_pages(store: Store) -> None:
    household = household_recording(store)
    item_id = make_item(store, recording_id=household.recording_id)
    sofia = add_person(store, "sofia", "safety_officer")
    priya = add_person(store, "priya", "privacy_officer")
    with officer_client(store) as asker, officer_client(store) as decider:
        asker_csrf = sign_in(asker, sofia)
        decider_csrf = sign_in(decider, priya)
        refused = asker.post(
            "/reidentify",
            data={"csrf_token": asker_csrf, "item": item_id, "reason": "danger"},
        )
        assert refused.status_code == 422
        assert "at least one field" in refused.text
        asked = asker.post(
            "/reidentify",
            data={
                "csrf_token": asker_csrf,
                "item": item_id,
                "reason": "the caller said she is in danger",
                "fields": ["account_number", "locale"],
            },
        )
        assert asked.status_code == 200, asked.text
        request_id = request_id_in(asked.text)
        too_early = asker.post(f"/reidentify/{request_id}/open", data={"csrf_token": asker_csrf})
        assert too_early.status_code == 422 and "not approved" in too_early.text

        waiting = decider.get("/reidentify")
        assert "the caller said she is in danger" in waiting.text
        no_note = decider.post(
            f"/reidentify/{request_id}/approve", data={"csrf_token": decider_csrf, "note": ""}
        )
        assert no_note.status_code == 422
        approved = decider.post(
            f"/reidentify/{request_id}/approve",
            data={"csrf_token": decider_csrf, "note": "procedure step 4", "hours": "2"},
        )
        assert approved.status_code == 200, approved.text
        assert household.account_external_id not in approved.text

        opened = asker.post(f"/reidentify/{request_id}/open", data={"csrf_token": asker_csrf})
        assert opened.status_code == 200
        assert household.account_external_id in opened.text
        assert household.serial not in opened.text, "only the approved fields open"
        assert opened.headers["cache-control"] == "no-store"
        again = asker.post(f"/reidentify/{request_id}/open", data={"csrf_token": asker_csrf})
        assert again.status_code == 422 and "opened already" in again.text
        assert household.account_external_id not in again.text


def test_a_privacy_officer_cannot_ask_and_a_safety_officer_cannot_decide(store: Store) -> None:
    household = household_recording(store)
    item_id = make_item(store, recording_id=household.recording_id)
    sofia = add_person(store, "sofia", "safety_officer")
    priya = add_person(store, "priya", "privacy_officer")
    with officer_client(store) as asker, officer_client(store) as decider:
        asker_csrf = sign_in(asker, sofia)
        decider_csrf = sign_in(decider, priya)
        tried = decider.post(
            "/reidentify",
            data={
                "csrf_token": decider_csrf,
                "item": item_id,
                "reason": "curious",
                "fields": ["first_name"],
            },
        )
        assert tried.status_code == 403
        asked = asker.post(
            "/reidentify",
            data={
                "csrf_token": asker_csrf,
                "item": item_id,
                "reason": "danger",
                "fields": ["first_name"],
            },
        )
        request_id = request_id_in(asked.text)
        self_approved = asker.post(
            f"/reidentify/{request_id}/approve", data={"csrf_token": asker_csrf, "note": "me"}
        )
        assert self_approved.status_code == 403


def test_the_household_reads_of_the_request_on_its_report(store: Store) -> None:
    household = household_recording(store)
    item_id = make_item(store, recording_id=household.recording_id)
    sofia = add_person(store, "sofia", "safety_officer")
    priya = add_person(store, "priya", "privacy_officer")
    with store.db.transaction() as session:
        asker = session.get(StaffUser, sofia.id)
        decider = session.get(StaffUser, priya.id)
        made = service.request_reidentification(
            session, store.keyring, asker, item_id, "danger", ["locale"]
        )
        service.refuse(session, decider, made.id, "the procedure does not call for it")
    with store.db.transaction() as session:
        token, _ = issue_login_link(
            session, household.account_external_id, store.settings.policy.owner
        )
    with TestClient(create_app(store=store), base_url="https://testserver") as owner:
        signed = owner.post("/portal/sign-in", data={"token": token}, follow_redirects=False)
        assert signed.status_code == 303, signed.text
        report = owner.get("/portal/report")
        assert report.status_code == 200, report.text
        assert "Requests to learn who you are" in report.text
        assert "language setting" in report.text and "Refused" in report.text
