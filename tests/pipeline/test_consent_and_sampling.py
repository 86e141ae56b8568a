"""Consent admits a recording to sampling; sampling picks few, reproducibly, within caps.

Every recording passes the wake check whatever its consent; one not admitted ends its
journey there. The wake check here always confirms, as for a real wake word."""

from __future__ import annotations

import dataclasses
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from earmuff.config import Policy
from earmuff.config.policy import ReviewPolicy
from earmuff.owner.transparency import recording_view
from earmuff.pipeline.consent import ConsentStage
from earmuff.pipeline.runner import PipelineRunner
from earmuff.pipeline.sampling import SAMPLING_KEY_PURPOSE, SamplingStage, sampling_score
from earmuff.pipeline.stage import Stage
from earmuff.pipeline.wake import WakeStage
from earmuff.store import Store
from earmuff.store.models import Recording
from tests.pipeline.conftest import FixedWake, Household


def use_policy(store: Store, **review: object) -> None:
    store.settings = dataclasses.replace(
        store.settings, policy=Policy(review=ReviewPolicy.model_validate(review))
    )


def stages(is_wake: bool = True) -> list[Stage]:
    return [ConsentStage(), WakeStage(FixedWake(is_wake)), SamplingStage()]  # type: ignore[arg-type]


def decisions(store: Store, household: Household, count: int = 1) -> list[list[str]]:
    runner = PipelineRunner(store, stages())
    ids = [household.upload() for _ in range(count)]
    return [[f"{r.stage}:{r.decision}" for r in runner.run(i)] for i in ids]


def test_under_opt_in_no_answer_means_no_review(store: Store, household: Household) -> None:
    assert decisions(store, household) == [["consent:no_consent", "wake:wake_confirmed"]]


def test_under_opt_in_a_yes_admits_the_recording_to_sampling(
    store: Store, household: Household
) -> None:
    use_policy(store, sampling_rate=1.0)
    household.consent("granted")
    assert decisions(store, household) == [
        ["consent:consented", "wake:wake_confirmed", "sample:sampled"]
    ]


def test_withdrawn_consent_stops_review_in_either_mode(store: Store, household: Household) -> None:
    household.consent("granted")
    household.consent("withdrawn")
    assert decisions(store, household) == [["consent:no_consent", "wake:wake_confirmed"]]
    use_policy(store, consent="opt-out", sampling_rate=1.0)
    assert decisions(store, household) == [["consent:opted_out", "wake:wake_confirmed"]]


def test_under_opt_out_silence_admits_the_recording(store: Store, household: Household) -> None:
    use_policy(store, consent="opt-out", sampling_rate=1.0)
    assert decisions(store, household) == [
        ["consent:consented", "wake:wake_confirmed", "sample:sampled"]
    ]


@pytest.mark.parametrize("on_device", [False, True], ids=["child account", "child device"])
def test_a_child_profile_is_never_reviewed_even_with_consent(
    store: Store, household: Household, on_device: bool
) -> None:
    use_policy(store, consent="opt-out", sampling_rate=1.0)
    household.consent("granted")
    household.mark_child(on_device=on_device)
    assert decisions(store, household) == [["consent:child_profile", "wake:wake_confirmed"]]


@pytest.mark.parametrize("choice", ["unset", "withdrawn"])
def test_a_false_wake_is_deleted_whatever_the_consent(
    store: Store, household: Household, choice: str
) -> None:
    use_policy(store, sampling_rate=1.0)
    if choice != "unset":
        household.consent("granted")
        household.consent("withdrawn")
    recording_id = household.upload()
    reports = PipelineRunner(store, stages(is_wake=False)).run(recording_id)
    assert [f"{r.stage}:{r.decision}" for r in reports] == ["consent:no_consent", "wake:false_wake"]
    assert reports[0].detail["admitted"] is False
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None
        assert (recording.status, recording.blob_key, recording.key_sealed) == (
            "discarded",
            None,
            None,
        )
    assert not [key for key in list(store.blobs.keys()) if recording_id in key]
    with store.db.read() as session:
        view = recording_view(session, store, household.account_id, recording_id)
    assert view is not None
    assert view.summary.state.startswith("Deleted at once: it did not start with the wake word")
    assert [step.words for step in view.steps] == [
        "Not eligible for review: you had not said yes",
        "No wake word: the audio was deleted at once",
    ]


def test_a_true_wake_without_consent_is_kept_and_never_sampled(
    store: Store, household: Household
) -> None:
    use_policy(store, sampling_rate=1.0)
    recording_id = household.upload()
    runner = PipelineRunner(store, stages())
    reports = runner.run(recording_id)
    assert [(r.stage, r.status, r.decision) for r in reports] == [
        ("consent", "done", "no_consent"),
        ("wake", "stopped", "wake_confirmed"),
    ]
    assert reports[1].detail["review"] == "not_admitted"
    assert recording_id not in runner.pending(), "the journey ends at the wake check"
    with store.db.read() as session:
        recording = session.get(Recording, recording_id)
        assert recording is not None
        assert (recording.status, recording.sampled_at) == ("stored", None)
        assert recording.blob_key is not None and store.blobs.get(recording.blob_key)
    with store.db.read() as session:
        view = recording_view(session, store, household.account_id, recording_id)
    assert view is not None
    assert (view.summary.state, view.summary.sampled, view.copies) == ("Stored", False, ())
    assert [step.words for step in view.steps] == [
        "Not eligible for review: you had not said yes",
        "The wake word was confirmed",
    ]
    household.consent("granted")
    assert runner.run(recording_id) == reports, "a later yes does not admit it"


def test_the_sampling_score_is_uniform_and_fixed_per_key_and_recording() -> None:
    key = b"k" * 32
    ids = [uuid.UUID(int=i).hex for i in range(20_000)]
    scores = [sampling_score(key, i) for i in ids]
    assert all(0 <= s < 1 for s in scores)
    assert abs(sum(s < 0.3 for s in scores) / len(scores) - 0.3) < 0.015
    assert sampling_score(key, ids[7]) == scores[7]
    assert sampling_score(b"x" * 32, ids[7]) != scores[7]


def test_each_decision_is_recorded_with_its_score_and_can_be_recomputed(
    store: Store, household: Household
) -> None:
    use_policy(store, sampling_rate=0.5)
    household.consent("granted")
    runner = PipelineRunner(store, stages())
    key = store.keyring.master.derive(SAMPLING_KEY_PURPOSE)
    for _ in range(12):
        recording_id = household.upload()
        report = runner.run(recording_id)[-1]
        score = sampling_score(key, recording_id)
        assert report.detail["score"] == round(score, 8)
        assert report.decision == ("sampled" if score < 0.5 else "not_sampled")
        assert runner.run(recording_id)[-1] == report, "running again decides the same"


def test_a_locale_can_have_its_own_rate(store: Store, household: Household) -> None:
    use_policy(store, sampling_rate=0.0, locale_sampling_rates={"de-DE": 1.0})
    household.consent("granted")
    runner = PipelineRunner(store, stages())
    german, english = household.upload(locale="de-DE"), household.upload(locale="en-US")
    assert runner.run(german)[-1].decision == "sampled"
    assert runner.run(english)[-1].decision == "not_sampled"


def test_no_account_gives_more_than_its_cap_in_30_days(store: Store) -> None:
    use_policy(store, sampling_rate=1.0, per_account_cap_30d=3)
    chatty, quiet = Household(store, "ACC-1", "SN-1"), Household(store, "ACC-2", "SN-2")
    chatty.consent("granted")
    quiet.consent("granted")
    runner = PipelineRunner(store, stages())
    outcomes = [runner.run(chatty.upload())[-1].decision for _ in range(5)]
    assert outcomes == ["sampled"] * 3 + ["account_cap_reached"] * 2
    assert runner.run(quiet.upload())[-1].decision == "sampled"


def test_the_cap_holds_when_recordings_are_sampled_concurrently(store: Store) -> None:
    use_policy(store, sampling_rate=1.0, per_account_cap_30d=3)
    household = Household(store, "ACC-1", "SN-1")
    household.consent("granted")
    ids = [household.upload() for _ in range(10)]
    runner = PipelineRunner(store, stages())
    with ThreadPoolExecutor(6) as pool:
        finals = list(pool.map(lambda i: runner.run(i)[-1].decision, ids))
    assert finals.count("sampled") == 3
    with store.db.read() as session:
        sampled = [session.get(Recording, i).sampled_at for i in ids]  # type: ignore[union-attr]
    assert sum(s is not None for s in sampled) == 3


def test_the_policy_chooses_the_anonymizer() -> None:
    from earmuff.audio.anonymize import (
        ChainAnonymizer,
        FormantWarpAnonymizer,
        McAdamsAnonymizer,
        SharpenAnonymizer,
        ShiftAnonymizer,
    )
    from earmuff.config.policy import AnonymizationPolicy
    from earmuff.pipeline.anonymize import anonymizer_for

    mcadams = anonymizer_for(AnonymizationPolicy(method="mcadams", alpha_low=0.6))
    assert isinstance(mcadams, McAdamsAnonymizer) and mcadams.alpha_low == 0.6
    shift = anonymizer_for(AnonymizationPolicy(method="eq-shift", shift_high=1.3, reequalise=False))
    assert isinstance(shift, ShiftAnonymizer) and shift.shift_high == 1.3
    settled = anonymizer_for(AnonymizationPolicy(method="eq-shift"))
    assert isinstance(settled, ChainAnonymizer) and settled.name == "eq-shift+eq"
    assert anonymizer_for(AnonymizationPolicy(method="mcadams")).name == "mcadams", (
        "only what starts with eq-shift has a line to return to"
    )
    assert not AnonymizationPolicy(method="formant-warp").reequalises
    both = anonymizer_for(
        AnonymizationPolicy(method="eq-shift+mcadams", alpha_high=0.95, reequalise=False)
    )
    assert isinstance(both, ChainAnonymizer) and both.name == "eq-shift+mcadams"
    assert [type(step) for step in both.steps] == [ShiftAnonymizer, McAdamsAnonymizer]
    assert both.steps[1].alpha_high == 0.95
    warped = anonymizer_for(
        AnonymizationPolicy(
            method="eq-shift+formant-warp",
            tilt_low_db=-12.0,
            tilt_high_db=6.0,
            colour_db=6.0,
            colour_bands=3,
            warp_low=0.04,
            warp_order=28,
            pivot_hz=150.0,
        )
    )
    assert isinstance(warped, ChainAnonymizer) and warped.name == "eq-shift+formant-warp+eq"
    shift_step, warp_step = warped.steps
    assert isinstance(shift_step, ShiftAnonymizer) and shift_step.colour_db == 6.0
    assert shift_step.colour_bands == 3
    assert (shift_step.tilt_low_db, shift_step.tilt_high_db) == (-12.0, 6.0)
    assert shift_step.pivot_hz == 150.0
    assert isinstance(warp_step, FormantWarpAnonymizer) and warp_step.beta_low == 0.04
    assert warp_step.order == 28
    default = anonymizer_for(AnonymizationPolicy(sharpen_high=0.85))
    assert isinstance(default, ChainAnonymizer)
    assert default.name == "eq-shift+formant-warp+sharpen+eq", "the policy's default"
    sharpen = default.steps[-1]
    assert isinstance(sharpen, SharpenAnonymizer) and sharpen.poles_high == 0.85
    assert (sharpen.poles_low, sharpen.zeros) == (0.7, 0.55)
