"""The workbench in a real Chromium: sign in with a one-time code, take a task, play its
audio, correct the transcript, flag an item, and fail to fetch someone else's audio."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from earmuff.config import Settings
from earmuff.store import Store, open_store
from earmuff.store.models import Annotation, ReviewItem
from earmuff.store.review_items import ANNOTATION_TEXT, open_item_text
from earmuff.web import create_app
from earmuff.web.server import BackgroundServer
from tests.workbench.items import queued_item
from tests.workbench.staff import Person, add_person


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    store = open_store(Settings.for_workspace(tmp_path / "ws", env={}))
    with BackgroundServer(create_app(store=store)) as url:
        yield store, url


def sign_in(page: object, url: str, person: Person) -> None:
    page.goto(f"{url}/login")  # type: ignore[attr-defined]
    page.fill("input[name=username]", person.username)  # type: ignore[attr-defined]
    page.fill("input[name=password]", person.password)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.fill("input[name=code]", person.code())  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]


def test_a_reviewer_works_a_task_in_the_browser(live: tuple[Store, str], chromium: object) -> None:
    store, url = live
    first = queued_item(store, transcript="play the new album by [PERSON]", seconds=4.0)
    second = queued_item(store, transcript="what is the weather in [LOCATION]", seconds=3.0)
    ana = add_person(store, "ana", "annotator")
    ben = add_person(store, "ben", "annotator")

    context = chromium.new_context(bypass_csp=True)  # type: ignore[attr-defined]
    page = context.new_page()
    sign_in(page, url, ana)
    assert page.url.endswith("/workbench")
    page.click("#take-next")
    page.wait_for_selector("#transcript")
    page.wait_for_function("document.getElementById('audio-status').textContent === 'ready'")
    page.click("#play")
    page.wait_for_function("document.getElementById('audio').currentTime > 0.2")
    page.click("#play")
    page.select_option("#speed", "1.5")
    assert page.eval_on_selector("#audio", "a => a.playbackRate") == 1.5
    page.keyboard.press("ArrowRight")
    held_url = page.evaluate(
        """async () => {
            const lease = document.querySelector('input[name=lease_id]').value;
            const csrf = document.querySelector('meta[name=csrf-token]').content;
            const r = await fetch('/api/workbench/audio-url', {method: 'POST',
              headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf},
              body: JSON.stringify({lease_id: lease})});
            return (await r.json()).url;
        }"""
    )
    page.fill("#transcript", "play the new album by [PERSON] please")
    page.select_option("#intent", "play_music")
    page.click("#submit")
    page.wait_for_selector("text=Submitted")

    page.click("#take-next")
    page.wait_for_selector("#transcript")
    page.check("#flag-pii_leak")
    page.click("#submit")
    page.wait_for_selector("text=pulled from every queue")

    other = chromium.new_context(bypass_csp=True)  # type: ignore[attr-defined]
    intruder = other.new_page()
    sign_in(intruder, url, ben)
    status = intruder.evaluate(f"async () => (await fetch('{held_url}')).status")
    assert status == 403
    anonymous = chromium.new_context(bypass_csp=True).new_page()  # type: ignore[attr-defined]
    anonymous.goto(f"{url}/login")
    assert anonymous.evaluate(f"async () => (await fetch('{held_url}')).status") == 401

    with store.db.read() as session:
        done = session.scalars(select(Annotation).order_by(Annotation.submitted_at)).all()
        assert [a.review_item_id for a in done] == [first, second]
        item = session.get(ReviewItem, first)
        assert item is not None and done[0].transcript_sealed is not None
        text = open_item_text(store.keyring, item, ANNOTATION_TEXT, done[0].transcript_sealed)
        assert text == "play the new album by [PERSON] please"
        assert done[0].intent == "play_music"
        pulled = session.get(ReviewItem, second)
        assert pulled is not None and pulled.status == "pulled"
