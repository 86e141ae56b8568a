"""A reviewer's day through the HTTP layer: take a task, hear it, annotate, flag, skip."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import soundfile as sf
from fastapi.testclient import TestClient
from sqlalchemy import select

from earmuff.audio.codec import encode_wav
from earmuff.evaluate import leaks
from earmuff.evaluate.manifest import load_audio
from earmuff.store import Store
from earmuff.store.accounts import register_device
from earmuff.store.models import Account, Annotation, AuditEvent, ReviewItem, ReviewTask, SafetyCase
from tests.workbench.items import queued_item
from tests.workbench.staff import add_person, sign_in


def take(client: TestClient, csrf: str) -> str:
    response = client.post("/workbench/next", data={"csrf_token": csrf})
    assert response.status_code == 200
    match = re.search(r'name="lease_id" value="([^"]+)"', response.text)
    assert match, response.text
    return match.group(1)


def test_a_reviewer_takes_hears_and_submits_a_task(store: Store, browser: TestClient) -> None:
    item_id = queued_item(store, transcript="call [PERSON] at five")
    ana = add_person(store, "ana", "annotator")
    csrf = sign_in(browser, ana)
    lease_id = take(browser, csrf)
    page = browser.get("/workbench")
    assert "call [PERSON] at five" in page.text
    assert item_id not in page.text, "the page must not show the item's id"

    grant = browser.post(
        "/api/workbench/audio-url", json={"lease_id": lease_id}, headers={"X-CSRF-Token": csrf}
    )
    assert grant.status_code == 200
    audio = browser.get(grant.json()["url"])
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/wav"
    assert "no-store" in audio.headers["cache-control"]
    assert audio.headers["content-disposition"] == "inline"
    samples, rate = sf.read(io.BytesIO(audio.content))
    assert rate == 16_000 and len(samples) == 3 * 16_000

    response = browser.post(
        "/workbench/submit",
        data={
            "csrf_token": csrf,
            "lease_id": lease_id,
            "transcript": "call [PERSON] at five",
            "intent": "call",
            "slot_time": "five",
        },
    )
    assert response.status_code == 200 and "Submitted" in response.text
    with store.db.read() as session:
        annotation = session.scalars(select(Annotation)).one()
        assert (annotation.intent, annotation.slots) == ("call", {"time": "five"})
        streamed = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "audio.streamed")
        ).one()
        assert streamed.subject.startswith("mark:")
        assert streamed.details["lease"] == lease_id
        assert session.get(ReviewItem, item_id).status == "done"  # type: ignore[union-attr]


def test_another_reviewer_cannot_fetch_the_audio_even_with_the_link(
    store: Store, browser: TestClient
) -> None:
    queued_item(store)
    ana = add_person(store, "ana", "annotator")
    ben = add_person(store, "ben", "annotator")
    csrf = sign_in(browser, ana)
    lease_id = take(browser, csrf)
    url = browser.post(
        "/api/workbench/audio-url", json={"lease_id": lease_id}, headers={"X-CSRF-Token": csrf}
    ).json()["url"]
    browser.cookies.clear()
    ben_csrf = sign_in(browser, ben)
    stolen = browser.get(url)
    assert stolen.status_code == 403
    refused = browser.post(
        "/api/workbench/audio-url", json={"lease_id": lease_id}, headers={"X-CSRF-Token": ben_csrf}
    )
    assert refused.status_code == 409


def test_a_pii_leak_flag_pulls_the_item_from_every_queue(store: Store, browser: TestClient) -> None:
    item_id = queued_item(store, copies=3)
    ana = add_person(store, "ana", "annotator")
    csrf = sign_in(browser, ana)
    lease_id = take(browser, csrf)
    response = browser.post(
        "/workbench/submit",
        data={
            "csrf_token": csrf,
            "lease_id": lease_id,
            "transcript": "call john",
            "flag": "pii_leak",
        },
    )
    assert "pulled from every queue" in response.text
    with store.db.read() as session:
        assert session.get(ReviewItem, item_id).status == "pulled"  # type: ignore[union-attr]
        statuses = sorted(session.scalars(select(ReviewTask.status)))
    assert statuses == ["done", "withdrawn", "withdrawn"]


def test_someone_in_danger_opens_a_safety_case(store: Store, browser: TestClient) -> None:
    queued_item(store, transcript="help me please he has a knife")
    ana = add_person(store, "ana", "annotator")
    csrf = sign_in(browser, ana)
    lease_id = take(browser, csrf)
    response = browser.post(
        "/workbench/submit",
        data={
            "csrf_token": csrf,
            "lease_id": lease_id,
            "transcript": "help me please he has a knife",
            "flag": "someone_in_danger",
        },
    )
    assert "safety team" in response.text
    with store.db.read() as session:
        case = session.scalars(select(SafetyCase)).one()
    assert (case.reason, case.state) == ("someone_in_danger", "open")


def test_a_bad_submission_is_refused_and_changes_nothing(store: Store, browser: TestClient) -> None:
    queued_item(store)
    ana = add_person(store, "ana", "annotator")
    csrf = sign_in(browser, ana)
    lease_id = take(browser, csrf)
    response = browser.post(
        "/workbench/submit",
        data={
            "csrf_token": csrf,
            "lease_id": lease_id,
            "transcript": "x",
            "intent": "launch_rocket",
        },
    )
    assert response.status_code == 422
    with store.db.read() as session:
        assert session.scalars(select(Annotation)).all() == []
        assert session.scalars(select(ReviewTask.status)).one() == "leased"


def test_sensitive_items_show_a_content_warning_and_only_to_the_safety_pool(
    store: Store, browser: TestClient
) -> None:
    queued_item(store, sensitive="self_harm", transcript="i want to die")
    ana = add_person(store, "ana", "annotator")
    csrf = sign_in(browser, ana)
    response = browser.post("/workbench/next", data={"csrf_token": csrf})
    assert "No task is waiting" in response.text
    browser.cookies.clear()
    sam = add_person(store, "sam", "annotator", safety_pool=True)
    csrf = sign_in(browser, sam)
    take(browser, csrf)
    page = browser.get("/workbench")
    assert "Content warning" in page.text


def test_skip_hands_the_task_to_someone_else(store: Store, browser: TestClient) -> None:
    queued_item(store)
    ana = add_person(store, "ana", "annotator")
    csrf = sign_in(browser, ana)
    lease_id = take(browser, csrf)
    response = browser.post(
        "/workbench/skip", data={"csrf_token": csrf, "lease_id": lease_id, "reason": "no_audio"}
    )
    assert "Skipped" in response.text
    again = browser.post("/workbench/next", data={"csrf_token": csrf})
    assert "No task is waiting" in again.text


def test_a_second_listen_is_asked_heard_and_answered_inside_the_workbench(
    store: Store, browser: TestClient
) -> None:
    queued_item(store, transcript="play something by [PERSON]")
    ana = add_person(store, "ana", "annotator")
    quinn = add_person(store, "quinn", "qa_reviewer")
    csrf = sign_in(browser, ana)
    lease_id = take(browser, csrf)
    asked = browser.post(
        "/workbench/second-listen",
        data={"csrf_token": csrf, "lease_id": lease_id, "start_s": "0.5", "end_s": "1.5"},
    )
    assert "waiting for a colleague" in asked.text
    browser.cookies.clear()
    q_csrf = sign_in(browser, quinn)
    listing = browser.get("/second-listens")
    request_id = re.search(r'href="/second-listens/([0-9a-f]+)"', listing.text)
    assert request_id, listing.text
    rid = request_id.group(1)
    early = browser.post(
        f"/second-listens/{rid}/answer", data={"csrf_token": q_csrf, "suggestion": "abba"}
    )
    assert early.status_code == 409
    url = browser.post(
        f"/api/second-listens/{rid}/audio-url", headers={"X-CSRF-Token": q_csrf}
    ).json()["url"]
    span = browser.get(url)
    assert span.status_code == 200
    samples, rate = sf.read(io.BytesIO(span.content))
    assert abs(len(samples) / rate - 1.0) < 0.02
    answered = browser.post(
        f"/second-listens/{rid}/answer", data={"csrf_token": q_csrf, "suggestion": "abba"}
    )
    assert answered.status_code == 200 and "Thank you" in answered.text
    browser.cookies.clear()
    sign_in(browser, ana, again=True)
    assert "abba" in browser.get("/workbench").text


def test_qa_sees_agreement_makes_gold_and_never_sees_escalated_work(
    store: Store, browser: TestClient
) -> None:
    queued_item(store, transcript="turn on the lights", copies=2)
    queued_item(store, transcript="he has a knife")
    ana = add_person(store, "ana", "annotator")
    ben = add_person(store, "ben", "annotator")
    quinn = add_person(store, "quinn", "qa_reviewer")
    for person, text in ((ana, "turn on the lights"), (ben, "turn on the light")):
        browser.cookies.clear()
        csrf = sign_in(browser, person)
        lease_id = take(browser, csrf)
        browser.post(
            "/workbench/submit",
            data={
                "csrf_token": csrf,
                "lease_id": lease_id,
                "transcript": text,
                "intent": "smart_home",
            },
        )
    browser.cookies.clear()
    csrf = sign_in(browser, ana, again=True)
    lease_id = take(browser, csrf)
    browser.post(
        "/workbench/submit",
        data={
            "csrf_token": csrf,
            "lease_id": lease_id,
            "transcript": "he has a knife",
            "flag": "possible_crime",
        },
    )
    browser.cookies.clear()
    q_csrf = sign_in(browser, quinn)
    page = browser.get("/qa").text
    assert "Items with two or more transcripts: <strong>1</strong>" in page
    assert "25.0 %" in page, "one word in four differs, whichever transcript is the reference"
    assert "he has a knife" not in page
    annotation_id = re.search(r'name="annotation_id" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    made = browser.post("/qa/gold", data={"csrf_token": q_csrf, "annotation_id": annotation_id})
    assert made.status_code == 200 and ">gold<" in made.text


def test_a_privacy_officer_places_and_releases_a_legal_hold(
    store: Store, browser: TestClient
) -> None:
    with store.db.transaction() as session:
        register_device(session, store.keyring, "ACC-77", "Jane", "SN-77")
    pia = add_person(store, "pia", "privacy_officer")
    csrf = sign_in(browser, pia)
    empty = browser.post("/holds", data={"csrf_token": csrf, "account": "ACC-77", "reason": " "})
    assert empty.status_code == 422
    placed = browser.post(
        "/holds", data={"csrf_token": csrf, "account": "ACC-77", "reason": "subpoena 2026-114"}
    )
    assert placed.status_code == 200 and "in force" in placed.text
    with store.db.read() as session:
        account = session.scalars(select(Account)).one()
        assert account.legal_hold_reason == "subpoena 2026-114"
    released = browser.post(
        "/holds/release", data={"csrf_token": csrf, "account": "ACC-77", "note": "case closed"}
    )
    assert "released" in released.text
    with store.db.read() as session:
        assert session.scalars(select(Account)).one().legal_hold_reason is None


def test_a_leaked_copy_re_recorded_over_a_phone_names_its_listener(
    store: Store, browser: TestClient, corpus: Path
) -> None:
    samples, rate = load_audio(corpus / "librispeech/train-clean-100/1034-121119-0000.flac")
    queued_item(store, audio=encode_wav(samples, rate), seconds=len(samples) / rate)
    ana = add_person(store, "ana", "annotator")
    pia = add_person(store, "pia", "privacy_officer")
    csrf = sign_in(browser, ana)
    lease_id = take(browser, csrf)
    url = browser.post(
        "/api/workbench/audio-url", json={"lease_id": lease_id}, headers={"X-CSRF-Token": csrf}
    ).json()["url"]
    heard, heard_rate = sf.read(io.BytesIO(browser.get(url).content), dtype="float32")
    leaked = leaks.phone(heard, heard_rate, np.random.default_rng(3))[: 4 * heard_rate]
    browser.cookies.clear()
    p_csrf = sign_in(browser, pia)
    traced = browser.post(
        "/api/audit/trace",
        content=encode_wav(leaked, heard_rate),
        headers={"X-CSRF-Token": p_csrf, "Content-Type": "application/octet-stream"},
    )
    assert traced.status_code == 200, traced.text
    found = traced.json()
    assert found["found"] and found["streamed_to"] == "ana" and found["lease"] == lease_id
    unmarked = browser.post(
        "/api/audit/trace",
        content=encode_wav(samples[: 4 * rate], rate),
        headers={"X-CSRF-Token": p_csrf, "Content-Type": "application/octet-stream"},
    )
    assert unmarked.json()["found"] is False
    garbage = browser.post(
        "/api/audit/trace",
        content=b"not audio at all",
        headers={"X-CSRF-Token": p_csrf, "Content-Type": "application/octet-stream"},
    )
    assert garbage.status_code in (400, 415, 422)
