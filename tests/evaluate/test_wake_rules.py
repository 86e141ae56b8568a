"""Wake figures derived from per-clip scores: rates, rules, per-source breakdown, and the
rule chosen by cross-validation over speakers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from earmuff.evaluate.manifest import ManifestEntry
from earmuff.evaluate.wake import (
    WakeClip,
    clip_record,
    clips_from_records,
    cross_validate,
    fit_rule,
    known_speakers,
    speaker_folds,
    speaker_of,
    summarise_wake,
    summary_lines,
)
from earmuff.speech.wake import WakeRule

SHIPPED = WakeRule(strong=0.5, weak=0.0, below_weak="reject")


def clip(
    name: str,
    label: str,
    acoustic: float,
    transcript: bool,
    source: str,
    nudged: bool | None = None,
    speaker: str | None = None,
) -> WakeClip:
    entry = ManifestEntry(1, name, Path(name), 1.0, label=label, source=source, speaker=speaker)
    return WakeClip(
        entry=entry,
        audio_seconds=1.0,
        acoustic_score=acoustic,
        acoustic_seconds=0.05,
        transcript_match=transcript,
        transcript_seconds=0.2,
        heard="",
        nudged_match=transcript if nudged is None else nudged,
        nudged_seconds=0.05,
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


def test_configured_and_per_detector_rates_count_the_right_clips() -> None:
    result = summarise_wake(CLIPS, threshold=0.5, rule=SHIPPED)
    assert (result["n_wake"], result["n_other"]) == (4, 4)
    assert result["miss_rate"] == 0.25
    assert result["false_accept_rate"] == 0.5
    assert result["detectors"]["openwakeword"]["miss_rate"] == 0.5
    assert result["detectors"]["openwakeword"]["false_accept_rate"] == 0.25
    assert result["detectors"]["transcript"]["miss_rate"] == 0.5
    assert result["rtf"] == (3 * 0.05 + 5 * 0.1) / 8, "openWakeWord, and the check it asks"
    assert [c["file"] for c in result["missed"]] == ["alexa/3.flac"]
    assert [c["file"] for c in result["false_accepts"]] == ["cmd/1.wav", "cmd/2.wav"]
    assert result["meets_targets"] is False
    assert "cross_validation" not in result


def test_rules_are_scored_from_the_same_clips() -> None:
    rules = {r["rule"]: r for r in summarise_wake(CLIPS, threshold=0.5, rule=SHIPPED)["rules"]}
    alone = rules["openwakeword >= 0.7 alone; below 0.7: reject"]
    assert (alone["miss_rate"], alone["false_accept_rate"]) == (0.5, 0.0)
    tiered = rules["openwakeword >= 0.9 alone; >= 0.3: nudged transcript; below 0.3: reject"]
    assert (tiered["n_missed"], tiered["n_false_accepts"]) == (1, 0)
    plain = rules["transcript alone"]
    assert (plain["n_missed"], plain["n_false_accepts"]) == (2, 1)


def test_a_rule_needing_a_check_that_was_not_run_is_left_out() -> None:
    unheard = [clip("alexa/9.flac", "wake", 0.0005, True, "alexa", nudged=None)]
    unheard = [WakeClip(**{**c.__dict__, "nudged_match": None}) for c in [*CLIPS, *unheard]]
    rules = {r["rule"] for r in summarise_wake(unheard, 0.5, WakeRule(0.5, 0.5, "reject"))["rules"]}
    assert "openwakeword >= 0.9 alone; >= 0.1: nudged transcript; below 0.1: reject" not in rules
    assert "transcript alone" in rules


def test_breakdown_by_source_and_summary() -> None:
    result = summarise_wake(CLIPS, threshold=0.5, rule=SHIPPED)
    commands = result["by_source"]["commands"]
    assert commands["labels"] == ["other"]
    assert (commands["n"], commands["accepted_fused"], commands["accepted_transcript"]) == (4, 2, 1)
    lines = summary_lines(result)
    assert "miss 25.0 % (1)" in lines[1]


def test_scores_written_by_a_run_decide_the_same_figures_again(tmp_path: Path) -> None:
    """``--scores-from``: every figure comes back from the clip records alone."""
    result = summarise_wake(CLIPS, threshold=0.5, rule=SHIPPED)
    path = tmp_path / "wake.json"
    path.write_text(json.dumps({"clips": [clip_record(c, SHIPPED) for c in CLIPS]}))
    again = summarise_wake(clips_from_records(json.loads(path.read_text())["clips"]), 0.5, SHIPPED)
    assert again["rules"] == result["rules"]
    assert again["missed"] == result["missed"]


def test_speakers_come_from_the_manifest_a_speakers_manifest_or_the_file_name() -> None:
    listed = ManifestEntry(
        1, "wuw/calls/00308/WUWII00308_000.ulaw", Path("x"), 1.0, speaker="wuw-ralph"
    )
    other_call = ManifestEntry(
        2, "wuw/calls/00316/WUWII00316_000.ulaw", Path("y"), 1.0, speaker="wuw-ralph"
    )
    known = known_speakers([listed, other_call])

    def of(name: str) -> str:
        return speaker_of(ManifestEntry(3, name, Path(name), 1.0), known)

    assert of("wuw/calls/00316/WUWII00316_004.ulaw") == "wuw-ralph"
    assert of("wuw/calls/00308/WUWII00308_001.ulaw") == "wuw-ralph"
    assert of("digits/7_george_12.wav") == "fsdd-george"
    assert of("alexa/3.flac") == "clip:alexa/3.flac"


def test_folds_keep_each_speaker_whole_and_share_out_both_kinds() -> None:
    speakers = ["a", "a", "b", "b", "c", "d", "e", "f", "g", "h"]
    is_wake = [True, True, True, False, True, True, False, False, False, False]
    folds = speaker_folds(speakers, is_wake, 2, seed=0)
    for speaker in set(speakers):
        assert len({f for s, f in zip(speakers, folds, strict=True) if s == speaker}) == 1
    for fold in (0, 1):
        assert any(w for w, f in zip(is_wake, folds, strict=True) if f == fold)
        assert any(not w for w, f in zip(is_wake, folds, strict=True) if f == fold)
    assert folds == speaker_folds(speakers, is_wake, 2, seed=0), "reproducible"
    with pytest.raises(ValueError, match="cannot fill"):
        speaker_folds(["a", "a"], [True, False], 2, seed=0)


def test_between_rules_the_clips_cannot_tell_apart_the_transcript_is_asked_more_widely() -> None:
    clean = [
        clip("alexa/1.flac", "wake", 0.99, True, "alexa"),
        clip("c/1.wav", "other", 0.0, False, "c"),
    ]
    rules = [
        WakeRule(0.9, 0.1, "reject"),
        WakeRule(None, 0.1, "plain"),
        WakeRule(None, 0.5, "plain"),
    ]
    assert fit_rule(clean, rules) == WakeRule(None, 0.5, "plain")


def population(speakers: int) -> list[WakeClip]:
    """Each speaker says "Alexa" (mostly scored high; some scored as nothing but heard
    by the transcript, some mumbled so that only the nudged check hears them) and a
    sentence without it (some scored high but not heard)."""
    clips = []
    for s in range(speakers):
        acoustic = 0.0005 if s % 4 == 0 else 0.99
        plain = s % 7 != 3
        clips.append(
            clip(f"alexa/{s}.flac", "wake", acoustic, plain, "alexa", nudged=True, speaker=f"s{s}")
        )
        sentence = 0.95 if s % 5 == 0 else 0.0
        clips.append(clip(f"say/{s}.wav", "other", sentence, False, "sentences", speaker=f"s{s}"))
    return clips


def test_cross_validation_chooses_a_family_on_held_out_speakers() -> None:
    clips = population(20)
    speakers = [c.entry.speaker or "" for c in clips]
    cv = cross_validate(clips, speakers, WakeRule(0.9, 0.1, "reject"), folds=5, replicates=200)
    assert cv["family"] == "acoustic alone only above strong, plain transcript below weak"
    assert (cv["n_missed"], cv["n_false_accepts"]) == (0, 0)
    assert cv["strong"] is None and cv["below_weak"] == "plain"
    assert cv["configured"]["n_missed"] == 5 and cv["configured"]["n_false_accepts"] == 4
    assert [row["speakers"] for row in cv["per_fold"]] == [4] * 5
    assert cv["intervals"]["miss_rate"] == [0.0, 0.0]
    two_levels = cv["families"]["two levels: the acoustic score decides at both ends"]
    assert two_levels["n_missed"] == 5
    assert cv["families"]["transcript alone"]["n_missed"] == 3
    lines = summary_lines({**summarise_wake(clips, 0.5, SHIPPED), "cross_validation": cv})
    assert any(line.startswith("chosen family:") for line in lines)
    assert sum(line.strip().startswith("fold ") for line in lines) == 5
