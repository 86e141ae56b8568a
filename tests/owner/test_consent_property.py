"""Property: whatever the order of uploads, pipeline steps, consent changes and hand-outs,
no review copy of an account that has not said yes is ever handed to a reviewer.

A hand-out is the workbench's own "next task" (``review.queue.next_task``, through
``World.hand_out``). The queue never looks at accounts (copies carry none): the property
holds because the owner's side removes copies, not because the queue filters them.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from earmuff.pipeline.runner import PipelineRunner
from earmuff.store import Store
from earmuff.store.models import Account, RecordingStage, ReviewItem, ReviewTask
from earmuff.store.vault import items_of_account
from tests.owner.conftest import Home, World


def test_no_copy_of_a_non_consenting_account_is_ever_handed_to_a_reviewer(store: Store) -> None:
    world = World(store)
    reviewer = world.staff()
    says_yes: dict[str, bool] = {}
    handed_out: list[tuple[str, str]] = []

    def account_of(item_id: str) -> str:
        """Found through the vault's blind index: a test has no business opening it."""
        with store.db.read() as session:
            for account_id in session.scalars(select(Account.id)):
                if item_id in items_of_account(session, store.keyring, account_id):
                    return account_id
        raise AssertionError(f"item {item_id} belongs to no account")

    class Interleavings(RuleBasedStateMachine):
        @initialize()
        def households(self) -> None:
            self.homes: list[Home] = [world.home() for _ in range(3)]
            self.recordings: list[str] = []
            for home in self.homes:
                says_yes[home.account_id] = False
            first = self.homes[0]
            first.allow()
            says_yes[first.account_id] = True
            self.recordings.append(first.upload())
            world.run(self.recordings[0])  # a copy waits from the start, so hand-outs happen

        @rule(which=st.integers(0, 2))
        def upload(self, which: int) -> None:
            self.recordings.append(self.homes[which].upload())

        @precondition(lambda self: bool(self.recordings))
        @rule(data=st.data())
        def one_pipeline_step(self, data: st.DataObject) -> None:
            recording_id = data.draw(st.sampled_from(self.recordings))
            with store.db.read() as session:
                recorded = session.scalars(
                    select(RecordingStage.status).where(
                        RecordingStage.recording_id == recording_id,
                        RecordingStage.stage != "ingest",
                    )
                ).all()
            if "stopped" in recorded or len(recorded) == len(world.runner.stages):
                return
            PipelineRunner(store, world.runner.stages[: len(recorded) + 1]).run(recording_id)

        @precondition(lambda self: bool(self.recordings))
        @rule(data=st.data())
        def rest_of_the_pipeline(self, data: st.DataObject) -> None:
            world.run(data.draw(st.sampled_from(self.recordings)))

        @rule(which=st.integers(0, 2))
        def allow(self, which: int) -> None:
            self.homes[which].allow()
            says_yes[self.homes[which].account_id] = True

        @rule(which=st.integers(0, 2))
        def stop(self, which: int) -> None:
            self.homes[which].stop()
            says_yes[self.homes[which].account_id] = False

        @rule(review=st.booleans())
        def hand_out(self, review: bool) -> None:
            task = world.hand_out(reviewer)
            if task is None:
                return
            owner = account_of(task.review_item_id)
            handed_out.append((task.review_item_id, owner))
            assert says_yes[owner], "a copy of an account without consent was handed out"
            if review:
                world.annotate(task, reviewer)

        @invariant()
        def nothing_of_a_non_consenting_account_waits_in_the_queue(self) -> None:
            with store.db.read() as session:
                waiting = session.scalars(
                    select(ReviewItem.id).where(ReviewItem.status == "queued")
                ).all()
                live_tasks = session.scalars(
                    select(ReviewTask.review_item_id).where(
                        ReviewTask.status.in_(("queued", "leased"))
                    )
                ).all()
            for item_id in {*waiting, *live_tasks}:
                assert says_yes[account_of(item_id)]

    run_state_machine_as_test(
        Interleavings,
        settings=settings(
            max_examples=20,
            stateful_step_count=35,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    assert handed_out, "the interleavings did hand copies out"
