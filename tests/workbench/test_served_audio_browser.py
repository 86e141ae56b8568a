"""In a real Chromium: an intent task plays the synthetic reading, and a task that serves
no audio loads no player yet can be labelled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from earmuff.config import Settings
from earmuff.store import Store, open_store
from earmuff.web import create_app
from earmuff.web.server import BackgroundServer
from tests.workbench.staff import add_person
from tests.workbench.test_browser import sign_in
from tests.workbench.test_served_audio import queued


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Store, str]]:
    store = open_store(Settings.for_workspace(tmp_path / "ws", env={}))
    with BackgroundServer(create_app(store=store)) as url:
        yield store, url


def test_the_reviewer_hears_the_reading_or_works_without_audio(
    live: tuple[Store, str], chromium: object
) -> None:
    store, url = live
    queued(store, "intent", "synthetic_voice")
    context = chromium.new_context(bypass_csp=True)  # type: ignore[attr-defined]
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, url, add_person(store, "ana", "annotator"))
    page.click("#take-next")
    page.wait_for_selector("#transcript")
    label = page.inner_text("#you-hear")
    assert "You hear: a synthetic voice reading the masked transcript" in label
    page.wait_for_function("document.getElementById('audio-status').textContent === 'ready'")
    page.click("#play")
    page.wait_for_function("document.getElementById('audio').currentTime > 0.2")
    page.click("#play")
    page.select_option("#intent", "call")
    page.click("#submit")
    page.wait_for_selector("text=Submitted")

    queued(store, "intent", "no_audio")
    page.click("#take-next")
    page.wait_for_selector("#transcript")
    assert "You hear: no audio" in page.inner_text("#you-hear")
    assert not page.is_visible("#player-card")
    assert page.inner_text("#audio-status") == "loading…", "nothing was fetched"
    page.select_option("#intent", "call")
    page.click("#submit")
    page.wait_for_selector("text=Submitted")
    assert errors == []
    context.close()
