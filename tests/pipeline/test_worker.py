"""The in-process pipeline: uploads are processed in the background, and a restart
takes up what the previous run left unfinished."""

from __future__ import annotations

from collections import Counter

from fastapi.testclient import TestClient

from earmuff.pipeline.consent import ConsentStage
from earmuff.pipeline.runner import PipelineRunner
from earmuff.pipeline.stage import Outcome, Work
from earmuff.pipeline.wake import WakeStage
from earmuff.pipeline.worker import InProcessPipeline
from earmuff.store import Store
from earmuff.store.models import RecordingStage
from earmuff.web import create_app
from tests.audio_samples import wav
from tests.pipeline.conftest import FixedWake, Household
from tests.web.conftest import upload


class Marks:
    name = "marks"

    def __init__(self, seen: Counter[str]) -> None:
        self.seen = seen

    def run(self, work: Work) -> Outcome:
        self.seen[work.facts.id] += 1
        return Outcome.go("marked")


def uploads(client: TestClient, household: Household, count: int) -> list[str]:
    metadata = household.metadata()
    return [
        upload(client, household.token, metadata, wav(0.3, seed=i)).json()["recording_id"]
        for i in range(count)
    ]


def test_every_upload_with_consent_is_handed_to_the_pipeline(
    store: Store, household: Household
) -> None:
    household.consent("granted")
    seen: Counter[str] = Counter()
    pipeline = InProcessPipeline(lambda: PipelineRunner(store, [Marks(seen)]))
    with TestClient(create_app(store=store, pipeline=pipeline)) as client:
        ids = uploads(client, household, 3)
        assert pipeline.wait_idle(timeout=30)
    assert seen == Counter({recording_id: 1 for recording_id in ids})


def test_an_upload_without_consent_is_handed_over_for_its_wake_check(
    store: Store, household: Household
) -> None:
    """A false wake is deleted whatever the consent, so every upload reaches the
    pipeline; the consent decision goes with it."""
    seen: Counter[str] = Counter()
    pipeline = InProcessPipeline(lambda: PipelineRunner(store, [Marks(seen)]))
    with TestClient(create_app(store=store, pipeline=pipeline)) as client:
        (recording_id,) = uploads(client, household, 1)
        assert pipeline.wait_idle(timeout=30)
    assert seen == Counter({recording_id: 1})
    with store.db.read() as session:
        consent = session.get(RecordingStage, (recording_id, "consent"))
        assert consent is not None
        assert (consent.status, consent.detail["decision"]) == ("done", "no_consent")
        assert consent.detail["admitted"] is False


def test_a_yes_given_after_an_upload_does_not_admit_it(store: Store, household: Household) -> None:
    """Consent is judged as it stood when the recording arrived."""
    before = household.upload()
    household.consent("granted")
    after = household.upload()
    seen: Counter[str] = Counter()
    wake = WakeStage(FixedWake())  # type: ignore[arg-type]
    runner = PipelineRunner(store, [ConsentStage(), wake, Marks(seen)])
    runner.run_pending()
    assert seen == Counter({after: 1})
    assert [report.decision for report in runner.run(before)] == ["no_consent", "wake_confirmed"]


def test_a_restart_takes_up_what_was_left_unfinished(store: Store, household: Household) -> None:
    household.consent("granted")
    left_over = [household.upload() for _ in range(2)]
    seen: Counter[str] = Counter()
    pipeline = InProcessPipeline(lambda: PipelineRunner(store, [Marks(seen)]))
    pipeline.start()
    assert pipeline.wait_idle(timeout=30)
    pipeline.stop()
    assert seen == Counter({recording_id: 1 for recording_id in left_over})
