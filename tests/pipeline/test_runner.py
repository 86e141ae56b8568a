"""The runner takes a recording stage by stage, records every outcome, and resumes."""

from __future__ import annotations

from collections import Counter

import pytest

from earmuff.pipeline.runner import PipelineRunner, RecordingBusy
from earmuff.pipeline.stage import Outcome, Work
from earmuff.store import Store
from tests.pipeline.conftest import Household


class Counting:
    def __init__(self, name: str, outcome: Outcome, calls: Counter[str]) -> None:
        self.name, self.outcome, self.calls = name, outcome, calls

    def run(self, work: Work) -> Outcome:
        self.calls[self.name] += 1
        return self.outcome


class FailsOnce:
    name = "flaky"

    def __init__(self, calls: Counter[str]) -> None:
        self.calls = calls

    def run(self, work: Work) -> Outcome:
        self.calls[self.name] += 1
        if self.calls[self.name] == 1:
            raise RuntimeError("the model server fell over")
        return Outcome.go("ok")


def test_a_crash_resumes_at_the_failed_stage_and_nothing_is_done_twice(
    store: Store, household: Household
) -> None:
    calls: Counter[str] = Counter()
    stages = [
        Counting("first", Outcome.go("fine"), calls),
        FailsOnce(calls),
        Counting("last", Outcome.go("fine"), calls),
    ]
    runner = PipelineRunner(store, stages)
    household.consent("granted")
    recording_id = household.upload()
    first = runner.run(recording_id)
    assert [(r.stage, r.status) for r in first] == [("first", "done"), ("flaky", "failed")]
    assert first[-1].detail == {"error": "RuntimeError"}
    assert list(runner.pending()) == [recording_id]
    second = runner.run(recording_id)
    assert [(r.stage, r.status) for r in second] == [
        ("first", "done"),
        ("flaky", "done"),
        ("last", "done"),
    ]
    assert calls == Counter(first=1, flaky=2, last=1)
    assert list(runner.pending()) == []
    runner.run(recording_id)
    assert calls == Counter(first=1, flaky=2, last=1)


def test_a_recording_whose_last_stage_failed_is_still_pending(
    store: Store, household: Household
) -> None:
    calls: Counter[str] = Counter()
    runner = PipelineRunner(store, [Counting("first", Outcome.go("fine"), calls), FailsOnce(calls)])
    household.consent("granted")
    recording_id = household.upload()
    assert runner.run(recording_id)[-1].status == "failed"
    assert list(runner.pending()) == [recording_id]
    assert runner.run(recording_id)[-1].status == "done"
    assert list(runner.pending()) == []


def test_a_stop_ends_the_journey_for_good(store: Store, household: Household) -> None:
    calls: Counter[str] = Counter()
    runner = PipelineRunner(
        store,
        [
            Counting("gate", Outcome.stop("no", why="test"), calls),
            Counting("after", Outcome.go("x"), calls),
        ],
    )
    recording_id = household.upload()
    assert [r.decision for r in runner.run(recording_id)] == ["no"]
    assert [r.decision for r in runner.run(recording_id)] == ["no"]
    assert calls == Counter(gate=1)
    assert list(runner.pending()) == []


def test_artifacts_are_sealed_under_the_account_key(store: Store, household: Household) -> None:
    seen: dict[str, bytes | None] = {}

    class Saves:
        name = "saves"

        def run(self, work: Work) -> Outcome:
            work.save("transcript.json", b'{"text": "call my sister maria"}')
            seen["loaded"] = work.load("transcript.json")
            seen["missing"] = work.load("nothing.json")
            seen["audio_seconds"] = str(work.audio.duration_s).encode()
            return Outcome.go("saved")

    recording_id = household.upload()
    PipelineRunner(store, [Saves()]).run(recording_id)
    assert seen["loaded"] == b'{"text": "call my sister maria"}'
    assert seen["missing"] is None
    assert seen["audio_seconds"] == b"0.5"
    stored = store.blobs.get(f"derived/{recording_id}/transcript.json")
    assert b"maria" not in stored and b"sister" not in stored


def test_a_recording_another_runner_holds_is_refused_not_run_twice(
    store: Store, household: Household
) -> None:
    calls: Counter[str] = Counter()
    recording_id = household.upload()
    rival = PipelineRunner(store, [Counting("only", Outcome.go("fine"), calls)])
    refused: list[str] = []

    class TriesTheRival:
        name = "only"

        def run(self, work: Work) -> Outcome:
            with pytest.raises(RecordingBusy) as busy:
                rival.run(work.facts.id)
            refused.append(busy.value.recording_id)
            assert rival.run_pending() == {}
            return Outcome.go("fine")

    PipelineRunner(store, [TriesTheRival()]).run(recording_id)
    assert refused == [recording_id]
    assert calls == Counter()
    assert [r.status for r in rival.run(recording_id)] == ["done"]
    assert calls == Counter(), "the rival found the stage already done once it could look"
