"""The owner portal through HTTP, as a browser and an app use it."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from earmuff.owner.login import issue_login_link
from earmuff.store.models import OwnerSession, Recording, ReviewItem
from earmuff.web import create_app
from tests.owner.conftest import Home, World


@pytest.fixture
def browser(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(store=world.store), base_url="https://testserver") as client:
        yield client


def link_token(world: World, home: Home) -> str:
    with world.store.db.transaction() as session:
        token, _ = issue_login_link(session, home.external_id, world.store.settings.policy.owner)
    return token


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page carries a CSRF token"
    return found.group(1)


def sign_in(browser: TestClient, world: World, home: Home) -> str:
    token = link_token(world, home)
    response = browser.post("/portal/sign-in", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/portal"
    return csrf_of(browser.get("/portal").text)


def test_a_link_shows_a_button_and_signs_in_once_with_a_strict_cookie(
    browser: TestClient, world: World
) -> None:
    home = world.home()
    token = link_token(world, home)
    for _ in range(2):  # a mail scanner opening the link does not use it up
        page = browser.get(f"/portal/sign-in?token={token}")
        assert page.status_code == 200 and f'value="{token}"' in page.text
        assert page.headers["referrer-policy"] == "no-referrer"
    response = browser.post("/portal/sign-in", data={"token": token}, follow_redirects=False)
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-earmuff-owner=ems_")
    for flag in ("HttpOnly", "Secure", "SameSite=strict", "Path=/"):
        assert flag.lower() in cookie.lower()
    again = browser.post("/portal/sign-in", data={"token": token}, follow_redirects=False)
    assert again.status_code == 400 and "expired or was already used" in again.text


def test_without_a_session_pages_ask_to_sign_in_and_the_api_answers_401(
    browser: TestClient,
) -> None:
    page = browser.get("/portal")
    assert page.status_code == 401 and "Please sign in first" in page.text
    api = browser.get("/v1/owner/me")
    assert api.status_code == 401 and api.json()["error"]["code"] == "unauthenticated"
    assert browser.get("/portal/recordings").status_code == 401


def test_the_first_screen_says_who_may_listen_and_the_switch_changes_it(
    browser: TestClient, world: World
) -> None:
    home = world.home()
    csrf = sign_in(browser, world, home)
    page = browser.get("/portal")
    assert "Nobody listens to your recordings." in page.text
    assert "Allow people to listen" in page.text and "What a reviewer receives" in page.text
    version = re.search(r'name="disclosure_version" value="([^"]+)"', page.text)
    sha = re.search(r'name="disclosure_sha256" value="([^"]+)"', page.text)
    assert version and sha
    form = {"choice": "allow", "disclosure_version": version[1], "disclosure_sha256": sha[1]}

    forged = browser.post("/portal/consent", data=form, follow_redirects=False)
    assert forged.status_code == 403
    stale = browser.post(
        "/portal/consent", data=form | {"csrf": csrf, "disclosure_sha256": "0" * 64}
    )
    assert stale.status_code == 409 and "has changed" in stale.text
    allowed = browser.post("/portal/consent", data=form | {"csrf": csrf})
    assert allowed.status_code == 200
    assert "People may listen to a few of your recordings." in allowed.text
    assert "Stop people listening" in allowed.text


def test_stopping_review_withdraws_the_queue_and_says_how_many(
    browser: TestClient, world: World
) -> None:
    home = world.home()
    home.allow()
    for _ in range(2):
        world.run(home.upload())
    csrf = sign_in(browser, world, home)
    response = browser.post(
        "/portal/consent", data={"csrf": csrf, "choice": "stop"}, follow_redirects=False
    )
    assert response.headers["location"] == "/portal?stopped=2&reviewed=0"
    page = browser.get(response.headers["location"])
    assert "2 recordings waiting for review were withdrawn and deleted" in page.text
    assert "Nobody listens to your recordings." in page.text
    with world.store.db.read() as session:
        assert session.scalars(select(ReviewItem)).all() == []


def test_a_recording_page_tells_each_review_by_role_and_plays_only_its_owners_audio(
    browser: TestClient, world: World
) -> None:
    home, other = world.home(), world.home()
    home.allow()
    recording_id = home.upload()
    world.run(recording_id)
    reviewer = world.staff("annotator")
    task = world.hand_out(reviewer)
    assert task is not None
    world.annotate(task, reviewer)
    theirs = other.upload()
    sign_in(browser, world, home)
    listing = browser.get("/portal/recordings")
    assert recording_id in listing.text and theirs not in listing.text
    page = browser.get(f"/portal/recordings/{recording_id}")
    assert page.status_code == 200
    assert "a transcriber" in page.text and reviewer.username not in page.text
    assert "alexa play the morning news for [PERSON]" in page.text
    assert "Chosen at random for human review" in page.text
    audio = browser.get(f"/portal/recordings/{recording_id}/audio")
    assert audio.status_code == 200 and audio.content.startswith(b"RIFF")
    assert audio.headers["cache-control"] == "no-store"
    assert audio.headers["content-disposition"] == "inline"
    copy = browser.get(f"/portal/recordings/{recording_id}/copies/{task.review_item_id}/audio")
    assert copy.status_code == 200 and copy.content != audio.content
    assert browser.get(f"/portal/recordings/{theirs}").status_code == 404
    assert browser.get(f"/portal/recordings/{theirs}/audio").status_code == 404
    assert browser.get(f"/v1/owner/recordings/{theirs}").status_code == 404


def test_deleting_from_the_pages_gives_a_checked_receipt(browser: TestClient, world: World) -> None:
    home = world.home()
    recording_id = home.upload()
    csrf = sign_in(browser, world, home)
    assert browser.post(f"/portal/recordings/{recording_id}/delete").status_code == 403
    done = browser.post(
        f"/portal/recordings/{recording_id}/delete", data={"csrf": csrf}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"].startswith("/portal/receipts/")
    receipt = browser.get(done.headers["location"])
    assert "checked: this receipt is unaltered" in receipt.text
    assert re.search(r"[0-9a-f]{64}", receipt.text)
    assert "one recording" in browser.get("/portal/receipts").text
    with world.store.db.read() as session:
        assert session.get(Recording, recording_id) is None


def test_deleting_a_range_or_everything_from_the_pages(browser: TestClient, world: World) -> None:
    home = world.home()
    home.upload()
    csrf = sign_in(browser, world, home)
    bad = browser.post(
        "/portal/delete",
        data={"csrf": csrf, "scope": "range", "first_day": "2026-11-30", "last_day": "2026-11-01"},
    )
    assert bad.status_code == 400 and "must not come after" in bad.text
    unconfirmed = browser.post("/portal/delete", data={"csrf": csrf, "scope": "everything"})
    assert unconfirmed.status_code == 400 and "confirm" in unconfirmed.text
    ranged = browser.post(
        "/portal/delete",
        data={"csrf": csrf, "scope": "range", "first_day": "2026-11-20", "last_day": "2026-11-20"},
    )
    assert ranged.status_code == 200 and "recordings in a date range" in ranged.text
    everything = browser.post(
        "/portal/delete", data={"csrf": csrf, "scope": "everything", "confirm": "yes"}
    )
    assert "destroyed: any backup copy is unreadable" in everything.text
    assert "You deleted all your data" in browser.get("/portal").text


def test_the_report_settings_history_and_export_pages(browser: TestClient, world: World) -> None:
    home = world.home()
    home.allow()
    world.run(home.upload())
    csrf = sign_in(browser, world, home)
    report = browser.get("/portal/report")
    assert report.status_code == 200 and "Transparency report" in report.text
    assert browser.get("/v1/owner/report").json()["totals"]["sent_for_review"] == 1

    settings = browser.get("/portal/settings")
    assert "18 months" in settings.text and "until you delete them" in settings.text
    saved = browser.post("/portal/settings/retention", data={"csrf": csrf, "raw_retention": "3m"})
    assert "Saved." in saved.text and "Now: 3 months" in saved.text
    wrong = browser.post("/portal/settings/retention", data={"csrf": csrf, "raw_retention": "9y"})
    assert wrong.status_code == 400

    history = browser.get("/portal/consent-history")
    sha = re.search(r'href="/portal/disclosures/([0-9a-f]{64})"', history.text)
    assert sha and "allowed human review" in history.text
    text = browser.get(f"/portal/disclosures/{sha[1]}")
    assert text.status_code == 200 and "What a reviewer receives" in text.text
    assert browser.get(f"/portal/disclosures/{'0' * 64}").status_code == 404

    export = browser.get("/portal/export")
    assert export.headers["content-type"] == "application/zip"
    assert 'filename="earmuff-ACC-1-' in export.headers["content-disposition"]
    names = zipfile.ZipFile(io.BytesIO(export.content)).namelist()
    assert names[0] == "data.json" and any(n.startswith("audio/") for n in names)


def test_portal_pages_are_never_cached_framed_or_scripted_from_elsewhere(
    browser: TestClient, world: World
) -> None:
    sign_in(browser, world, world.home())
    page = browser.get("/portal")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and "style=" not in page.text


def test_signing_out_ends_the_session(browser: TestClient, world: World) -> None:
    csrf = sign_in(browser, world, world.home())
    response = browser.post("/portal/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert "max-age=0" in response.headers["set-cookie"].lower()
    with world.store.db.read() as session:
        assert session.scalars(select(OwnerSession)).all() == []
    assert browser.get("/portal").status_code == 401


def test_the_json_api_signs_in_with_a_link_and_needs_the_csrf_header(
    browser: TestClient, world: World
) -> None:
    home = world.home()
    world.run(home.upload())
    session = browser.post("/v1/owner/session", json={"token": link_token(world, home)})
    assert session.status_code == 201
    csrf = {"X-CSRF-Token": session.json()["csrf_token"]}
    me = browser.get("/v1/owner/me").json()
    assert me["review"]["may_listen"] is False and me["account_id"] == home.external_id
    disclosure = me["disclosure"]
    body = {
        "choice": "granted",
        "disclosure_version": disclosure["version"],
        "disclosure_sha256": disclosure["sha256"],
    }
    assert browser.put("/v1/owner/consent", json=body).status_code == 403
    granted = browser.put("/v1/owner/consent", json=body, headers=csrf)
    assert granted.status_code == 200 and granted.json()["choice"] == "granted"
    assert browser.get("/v1/owner/me").json()["review"]["may_listen"] is True
    assert len(browser.get("/v1/owner/consent/history").json()) == 1
    listing = browser.get("/v1/owner/recordings").json()
    assert listing["total"] == 1
    recording_id = listing["recordings"][0]["id"]
    assert browser.get(f"/v1/owner/recordings/{recording_id}").json()["steps"]
    invalid = browser.post(
        "/v1/owner/deletions", json={"scope": "range", "first_day": "soon"}, headers=csrf
    )
    assert invalid.status_code == 422 and invalid.json()["error"]["code"] == "invalid_range"
    deleted = browser.delete(f"/v1/owner/recordings/{recording_id}", headers=csrf)
    assert deleted.status_code == 201 and deleted.json()["deleted"]["recordings"] == 1
    assert browser.get("/v1/owner/receipts").json()[0]["sha256"] == deleted.json()["sha256"]
    stopped = browser.put("/v1/owner/consent", json={"choice": "withdrawn"}, headers=csrf)
    assert stopped.json()["withdrawn"] == 0
    assert browser.post("/v1/owner/session", json={"token": "eml_nope"}).status_code == 401
    assert browser.delete("/v1/owner/session", headers=csrf).status_code == 204
    assert browser.get("/v1/owner/me").status_code == 401
