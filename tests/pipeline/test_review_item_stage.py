"""The review item stage puts each new item in the reviewers' queue, once, with its copies."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import select

from earmuff.config import Policy
from earmuff.config.policy import WorkbenchPolicy
from earmuff.pipeline.anonymize import REVIEW_AUDIO
from earmuff.pipeline.redact import REDACTION
from earmuff.pipeline.review_item import ReviewItemStage, review_copies
from earmuff.pipeline.screen import SCREEN
from earmuff.pipeline.stage import RecordingFacts, Work
from earmuff.store import Store
from earmuff.store.models import Recording, ReviewItem, ReviewTask
from tests.audio_samples import wav
from tests.pipeline.conftest import Household


def prepared_work(store: Store, household: Household, category: str | None = None) -> Work:
    """A consenting household's recording with the artifacts the earlier stages leave."""
    household.consent("granted")
    recording_id = household.upload()
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None
        work = Work(store, RecordingFacts.of(recording))
    work.save(REVIEW_AUDIO, wav(0.5))
    work.save(REDACTION, json.dumps({"masked_text": "call [PERSON]"}).encode())
    work.save(SCREEN, json.dumps({"category": category}).encode())
    return work


def with_workbench(store: Store, workbench: WorkbenchPolicy) -> None:
    store.settings = dataclasses.replace(store.settings, policy=Policy(workbench=workbench))


def tasks(store: Store) -> list[tuple[str, int, str, str, str, str]]:
    with store.db.read() as session:
        rows = session.execute(
            select(
                ReviewTask.review_item_id,
                ReviewTask.slot,
                ReviewTask.kind,
                ReviewTask.pool,
                ReviewTask.locale,
                ReviewTask.status,
            ).order_by(ReviewTask.slot)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


@pytest.mark.parametrize(
    ("share", "kind", "copies"), [(0.0, "single", 1), (1.0, "overlap", 4)], ids=["one", "k"]
)
def test_a_new_item_is_queued_as_one_task_or_as_k_overlap_copies(
    store: Store, household: Household, share: float, kind: str, copies: int
) -> None:
    with_workbench(store, WorkbenchPolicy(overlap_share=share, overlap_k=4))
    ReviewItemStage({}).run(prepared_work(store, household))
    with store.db.read() as session:
        item_id = session.scalars(select(ReviewItem.id)).one()
    assert tasks(store) == [
        (item_id, slot, kind, "general", "en-US", "queued") for slot in range(copies)
    ]


def test_a_sensitive_item_is_queued_for_the_safety_pool(store: Store, household: Household) -> None:
    with_workbench(store, WorkbenchPolicy(overlap_share=0.0))
    ReviewItemStage({}).run(prepared_work(store, household, category="self_harm"))
    assert [(kind, pool) for _, _, kind, pool, _, _ in tasks(store)] == [("single", "safety")]


def test_running_the_stage_again_queues_nothing_twice(store: Store, household: Household) -> None:
    with_workbench(store, WorkbenchPolicy(overlap_share=0.0))
    work = prepared_work(store, household)
    ReviewItemStage({}).run(work)
    assert ReviewItemStage({}).run(work).decision == "already_queued"
    assert len(tasks(store)) == 1


def test_overlap_is_decided_by_a_keyed_hash_of_the_item_a_share_of_the_time(
    store: Store,
) -> None:
    policy = WorkbenchPolicy(overlap_share=0.2, overlap_k=3)
    ids = [f"{n:032x}" for n in range(2000)]
    copies = [review_copies(store.keyring, item_id, policy) for item_id in ids]
    assert set(copies) == {1, 3}
    assert 0.17 < copies.count(3) / len(ids) < 0.23
    assert copies == [review_copies(store.keyring, item_id, policy) for item_id in ids]
