"""The owner portal in a real Chromium: sign in with a link, read who may listen, stop
human review, see a past review by role, delete a recording for a receipt, sign out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import select

from earmuff.owner.login import issue_login_link
from earmuff.store.models import Recording, ReviewItem
from earmuff.web import create_app
from earmuff.web.server import BackgroundServer
from tests.owner.conftest import Home, World

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Dialog


@pytest.fixture
def live(world: World) -> Iterator[str]:
    with BackgroundServer(create_app(store=world.store)) as url:
        yield url


def sign_in_link(world: World, home: Home, url: str) -> str:
    with world.store.db.transaction() as session:
        token, _ = issue_login_link(session, home.external_id, world.store.settings.policy.owner)
    return f"{url}/portal/sign-in?token={token}"


def test_an_owner_stops_review_reads_the_history_deletes_and_signs_out(
    world: World, live: str, chromium: Browser
) -> None:
    home = world.home()
    home.allow()
    recording_id = home.upload()
    world.run_all()
    reviewer = world.staff("annotator")
    task = world.hand_out(reviewer)
    assert task is not None
    world.annotate(task, reviewer)
    waiting = home.upload()
    world.run_all()

    page = chromium.new_context(bypass_csp=True).new_page()
    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.goto(sign_in_link(world, home, live))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live}/portal")
    assert page.inner_text("#headline") == "People may listen to a few of your recordings."

    switch = page.get_by_role("switch")
    assert switch.get_attribute("aria-checked") == "true"
    switch.click()
    page.wait_for_url(re.compile(r"/portal\?stopped="))
    assert questions and questions[0].startswith("Stop human review now?")
    notice = page.get_by_role("status").inner_text()
    assert "1 recording waiting for review was withdrawn and deleted" in notice
    assert "1 reviewed copy was deleted with the reviewers' notes" in notice
    assert page.inner_text("#headline") == "Nobody listens to your recordings."
    assert page.get_by_role("switch").get_attribute("aria-checked") == "false"

    page.click(f'a[href="/portal/recordings/{recording_id}"]')
    page.wait_for_url(f"{live}/portal/recordings/{recording_id}")
    review_row = page.locator("article.copy tbody tr")
    assert review_row.count() == 1
    assert "a transcriber" in review_row.inner_text()
    assert "intent: play_music" in review_row.inner_text()
    assert reviewer.username not in page.content()

    page.get_by_role("button", name="Delete this recording and every copy made from it").click()
    page.wait_for_url(re.compile(r"/portal/receipts/"))
    assert questions[-1] == "Delete this recording for good?"
    assert page.inner_text("h1") == "Deletion receipt"
    digest = page.inner_text("code.hash")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert "checked: this receipt is unaltered" in page.inner_text("dl.facts")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/portal/sign-in\?signed_out=true"))
    assert page.get_by_role("status").inner_text() == "You are signed out."
    response = page.goto(f"{live}/portal")
    assert response is not None and response.status == 401
    assert "Please sign in first" in page.get_by_role("alert").inner_text()
    assert page.get_by_role("button", name="Sign out").count() == 0

    with world.store.db.read() as session:
        assert session.scalars(select(ReviewItem)).all() == []
        assert session.get(Recording, recording_id) is None
        assert session.scalars(select(Recording.id)).all() == [waiting]
