"""The policy maps each task purpose to what its reviewer is served, and is checked strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from earmuff.config import load_policy
from earmuff.config.policy import PolicyError, WorkbenchPolicy


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_by_default_intent_gets_the_synthetic_voice_and_every_item_is_transcription() -> None:
    workbench = WorkbenchPolicy()
    assert workbench.purposes == {
        "transcription": "anonymized_recording",
        "intent": "synthetic_voice",
    }
    assert workbench.purpose_shares == {"transcription": 1.0}
    assert {workbench.purpose_for(score) for score in (0.0, 0.5, 0.999)} == {"transcription"}


def test_a_policy_file_maps_purposes_and_splits_items_between_them(tmp_path: Path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            '[workbench]\npurposes = { transcription = "anonymized_recording", '
            'intent = "no_audio" }\npurpose_shares = { transcription = 0.25, intent = 0.75 }\n',
        )
    )
    assert policy.workbench.purposes["intent"] == "no_audio"
    assert policy.workbench.purpose_for(0.1) == "transcription"
    assert policy.workbench.purpose_for(0.3) == "intent"
    assert policy.workbench.purpose_for(0.9999) == "intent"


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ('purposes = { intent = "anonymized_recording" }', "only transcription"),
        ('purposes = { intent = "the_real_voice" }', "workbench.purposes.intent"),
        ('purposes = { "Intent!" = "no_audio" }', "short lower-case name"),
        ("purposes = {}", "at least one"),
        ("purpose_shares = { slots = 1.0 }", "does not map"),
        ("purpose_shares = { transcription = 0.5, intent = 0.4 }", "add up to 1"),
        ("purpose_shares = { transcription = 1.5, intent = -0.5 }", "between 0 and 1"),
        ('purpose_shares = { transcription = "1" }', "workbench.purpose_shares"),
        ("purposes_typo = {}", "unknown policy key"),
    ],
)
def test_a_mapping_that_would_leak_a_voice_or_leave_items_undecided_is_refused(
    tmp_path: Path, body: str, complaint: str
) -> None:
    with pytest.raises(PolicyError, match=complaint):
        load_policy(write(tmp_path, f"[workbench]\n{body}\n"))
