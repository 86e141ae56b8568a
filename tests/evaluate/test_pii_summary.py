"""PII figures from redacted items: recall, residue, untouched audio, misses by type."""

from __future__ import annotations

from pathlib import Path

import pytest

from earmuff.evaluate.manifest import ManifestEntry, PiiItem
from earmuff.evaluate.pii import RedactedItem, summarise_pii, summary_lines
from earmuff.pii import Finding


def item(
    reference: str, pii: PiiItem, heard: str, masked: str, reheard: str, bleeped: bool = True
) -> RedactedItem:
    entry = ManifestEntry(1, f"{reference}.wav", Path("x.wav"), 2.0, text=reference, pii=(pii,))
    finding = Finding(pii.type, 0, len(heard), heard, 0.85)
    return RedactedItem(
        entry=entry,
        heard=heard,
        findings=(finding,) if bleeped else (),
        masked=masked,
        spans=((0.0, 1.0),) if bleeped else (),
        reheard=reheard,
        reference_findings=(),
        reference_masked=f"[{pii.type}]",
        audio_seconds=2.0,
        pipeline_seconds=0.25,
        seconds=0.5,
    )


JANE = PiiItem("PERSON", "Jane Doe")
PHONE = PiiItem("PHONE_NUMBER", "five five five one two three four")
ITEMS = [
    item("Jane Doe", JANE, "Jane Doe", "[PERSON]", ""),
    item("Jane Doe", JANE, "Jane Dow", "[PERSON] Dow", ""),  # surname left unmasked
    item("Jane Doe", JANE, "Thank you", "Thank you", "Jane", bleeped=False),  # never heard
    item("five five five one two three four", PHONE, "555-1234", "[PHONE_NUMBER]", "five"),
]


def test_rates_are_fractions_per_type_and_overall() -> None:
    result = summarise_pii(ITEMS, "whisper-test")
    assert result["n"] == 4
    assert result["n_by_type"] == {"PERSON": 3, "PHONE_NUMBER": 1}
    assert result["recall"] == pytest.approx(
        {"overall": 0.75, "PERSON": 2 / 3, "PHONE_NUMBER": 1.0}
    )
    assert result["residue_rate"] == {"overall": 0.25, "PERSON": 1 / 3, "PHONE_NUMBER": 0.0}
    assert result["unbleeped_rate"]["PERSON"] == 1 / 3
    assert result["reference_recall"]["overall"] == 1.0
    assert result["asr_reveal_rate"]["PERSON"] == 2 / 3
    assert (result["rtf"], result["rtf_with_residue_check"]) == (0.125, 0.25)
    assert result["meets_targets"] == {
        "recall": {"PERSON": False, "PHONE_NUMBER": True},
        "residue_rate": {"PERSON": False, "PHONE_NUMBER": True},
    }


def test_misses_keep_what_is_needed_to_study_them() -> None:
    result = summarise_pii(ITEMS, "whisper-test")
    [miss] = result["misses"]["PERSON"]
    assert (miss["reference"], miss["asr"], miss["masked"]) == (
        "Jane Doe",
        "Jane Dow",
        "[PERSON] Dow",
    )
    assert miss["leaked"] == ["doe"]
    assert [r["reheard"] for r in result["residue"]["PERSON"]] == ["Jane"]
    assert "PHONE_NUMBER" not in result["misses"]
    assert any("PERSON: recall 66.7 %" in line for line in summary_lines(result))
