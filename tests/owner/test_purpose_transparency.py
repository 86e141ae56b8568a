"""The owner is told, for each review copy, what its reviewer heard."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from earmuff.config.policy import WorkbenchPolicy
from earmuff.owner.history import keep_history, past_copies
from earmuff.owner.login import issue_login_link
from earmuff.store.models import utcnow
from earmuff.store.vault import items_of_recordings
from earmuff.web import create_app
from tests.owner.conftest import Home, World


@pytest.fixture
def browser(world: World) -> Iterator[TestClient]:
    with TestClient(create_app(store=world.store), base_url="https://testserver") as client:
        yield client


def reviewed_recording(world: World, purpose: str) -> tuple[Home, str]:
    """A recording of a new household, made into a ``purpose`` item and reviewed."""
    store = world.store
    workbench = WorkbenchPolicy(overlap_share=0.0, purpose_shares={purpose: 1.0})
    store.settings = dataclasses.replace(
        store.settings, policy=store.settings.policy.model_copy(update={"workbench": workbench})
    )
    home = world.home()
    home.allow()
    recording_id = home.upload()
    world.run(recording_id)
    reviewer = world.staff("annotator")
    lease = world.hand_out(reviewer)
    assert lease is not None
    world.annotate(lease, reviewer)
    return home, recording_id


def page_of(browser: TestClient, world: World, home: Home, recording_id: str) -> str:
    with world.store.db.transaction() as session:
        token, _ = issue_login_link(session, home.external_id, world.store.settings.policy.owner)
    browser.post("/portal/sign-in", data={"token": token}, follow_redirects=False)
    response = browser.get(f"/portal/recordings/{recording_id}")
    assert response.status_code == 200
    return response.text


def test_an_intent_review_tells_the_owner_only_a_synthetic_voice_was_heard(
    browser: TestClient, world: World
) -> None:
    home, recording_id = reviewed_recording(world, "intent")
    page = page_of(browser, world, home, recording_id)
    assert (
        "What the reviewer heard: a synthetic voice reading the masked transcript, "
        "never your voice." in page
    )


def test_a_transcription_review_tells_the_owner_the_anonymized_recording_was_heard(
    browser: TestClient, world: World
) -> None:
    home, recording_id = reviewed_recording(world, "transcription")
    page = page_of(browser, world, home, recording_id)
    assert "What the reviewer heard: the anonymized recording." in page


def test_what_was_heard_outlives_the_copy(world: World) -> None:
    home, recording_id = reviewed_recording(world, "intent")
    keyring = world.store.keyring
    with world.store.db.transaction() as session:
        (item_id,) = items_of_recordings(session, keyring, [recording_id])[recording_id]
        keep_history(
            session, keyring, home.account_id, {item_id: recording_id}, "expired", utcnow()
        )
        (copy,) = past_copies(session, keyring, home.account_id, [recording_id])[recording_id]
    assert copy.served == "synthetic_voice"
