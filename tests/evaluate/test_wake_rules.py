"""Wake figures derived from per-clip scores: rates, rules, per-source breakdown."""

from __future__ import annotations

from pathlib import Path

from earmuff.evaluate.manifest import ManifestEntry
from earmuff.evaluate.wake import WakeClip, summarise_wake, summary_lines


def clip(name: str, label: str, acoustic: float, transcript: bool, source: str) -> WakeClip:
    entry = ManifestEntry(1, name, Path(name), 1.0, label=label, source=source)
    return WakeClip(
        entry=entry,
        audio_seconds=1.0,
        fused=acoustic >= 0.5 or transcript,
        fused_seconds=0.1,
        acoustic_score=acoustic,
        acoustic_seconds=0.05,
        transcript_match=transcript,
        transcript_seconds=0.2,
        heard="",
    )


CLIPS = [
    clip("alexa/1.flac", "wake", 0.99, True, "alexa"),
    clip("alexa/2.flac", "wake", 0.3, True, "alexa"),  # acoustic miss, transcript saves it
    clip("alexa/3.flac", "wake", 0.1, False, "alexa"),  # missed by both
    clip("alexa/4.flac", "wake", 0.9, False, "alexa"),
    clip("cmd/1.wav", "other", 0.6, False, "commands"),  # acoustic false accept
    clip("cmd/2.wav", "other", 0.0, True, "commands"),  # transcript false accept
    clip("cmd/3.wav", "other", 0.0, False, "commands"),
    clip("cmd/4.wav", "other", 0.2, False, "commands"),
]


def test_fused_and_per_detector_rates_count_the_right_clips() -> None:
    result = summarise_wake(CLIPS, threshold=0.5)
    assert (result["n_wake"], result["n_other"]) == (4, 4)
    assert result["miss_rate"] == 0.25
    assert result["false_accept_rate"] == 0.5
    assert result["detectors"]["openwakeword"]["miss_rate"] == 0.5
    assert result["detectors"]["openwakeword"]["false_accept_rate"] == 0.25
    assert result["detectors"]["transcript"]["miss_rate"] == 0.5
    assert result["rtf"] == 0.1
    assert [c["file"] for c in result["missed"]] == ["alexa/3.flac"]
    assert [c["file"] for c in result["false_accepts"]] == ["cmd/1.wav", "cmd/2.wav"]
    assert result["meets_targets"] is False


def test_rules_are_scored_from_the_same_clips() -> None:
    rules = {r["rule"]: r for r in summarise_wake(CLIPS, threshold=0.5)["rules"]}
    assert rules["openwakeword >= 0.7"]["miss_rate"] == 0.5
    assert rules["openwakeword >= 0.7"]["false_accept_rate"] == 0.0
    both = rules["openwakeword >= 0.2 and transcript"]
    assert (both["n_missed"], both["n_false_accepts"]) == (2, 0)
    tiered = rules["openwakeword >= 0.9 or (openwakeword >= 0.3 and transcript)"]
    assert (tiered["n_missed"], tiered["n_false_accepts"]) == (1, 0)
    shipped = rules["as shipped (two levels, see options)"]
    assert shipped == {**rules["openwakeword >= 0.5 or transcript"], "rule": shipped["rule"]}


def test_breakdown_by_source_and_summary() -> None:
    result = summarise_wake(CLIPS, threshold=0.5)
    commands = result["by_source"]["commands"]
    assert commands["labels"] == ["other"]
    assert (commands["n"], commands["accepted_fused"], commands["accepted_transcript"]) == (4, 2, 1)
    lines = summary_lines(result)
    assert "miss 25.0 % (1)" in lines[1]
    assert any("best rules" in line for line in lines)
