"""The frontier: which strengths of which method are worth choosing at all."""

from __future__ import annotations

import math
from typing import Any, get_args

import pytest

from earmuff.config.policy import AnonymizationPolicy
from earmuff.evaluate.frontier import (
    GRID,
    dominates,
    evaluate_frontier,
    label,
    point,
    strength_label,
    strengthened,
    summary_lines,
)
from earmuff.pipeline.anonymize import anonymizer_for


def measured(ignorant: float, lazy: float, semi: float, rise: float) -> dict[str, Any]:
    return {
        "eer_ignorant": ignorant,
        "eer_lazy_informed": lazy,
        "eer_semi_informed": semi,
        "wer_rise": rise,
    }


def test_a_point_dominates_one_it_beats_somewhere_and_trails_nowhere() -> None:
    assert dominates(measured(0.4, 0.4, 0.3, 0.05), measured(0.4, 0.35, 0.3, 0.05))
    assert dominates(measured(0.4, 0.4, 0.3, 0.04), measured(0.4, 0.4, 0.3, 0.05))
    assert not dominates(measured(0.4, 0.4, 0.3, 0.05), measured(0.4, 0.4, 0.3, 0.05)), "a tie"
    assert not dominates(measured(0.5, 0.5, 0.5, 0.2), measured(0.3, 0.3, 0.3, 0.05)), "a trade-off"
    assert not dominates(
        measured(0.5, 0.5, 0.5, 0.0), {**measured(0.3, 0.3, 0.3, 0.1), "wer_rise": None}
    )


def test_labels_name_only_the_settings_the_method_uses() -> None:
    assert label(point("mcadams", alpha_low=0.7, alpha_high=0.9)) == "mcadams (alpha 0.7-0.9)"
    shift = point("eq-shift", shift_low=1.1, shift_high=1.25)
    assert label(shift) == "eq-shift (shift 1.1-1.25)"
    both = point("eq-shift+mcadams", shift_low=1.1, shift_high=1.25, alpha_low=0.5)
    assert label(both) == "eq-shift+mcadams (shift 1.1-1.25, alpha 0.5-0.9)"
    warped = point("eq-shift+formant-warp", shift_low=1.1, shift_high=1.25, colour_db=8)
    assert label(warped) == "eq-shift+formant-warp (shift 1.1-1.25, colour 8 dB, warp 0.03-0.12)"
    banded = point("eq-shift", shift_low=1.1, shift_high=1.3, colour_db=12, colour_bands=6)
    assert label(banded) == "eq-shift (shift 1.1-1.3, colour 12 dB in 6 bands)"
    pivoted = point("eq-shift", shift_low=1.1, shift_high=1.3, pivot_hz=160)
    assert label(pivoted) == "eq-shift (shift 1.1-1.3, pivot 160 Hz)"
    tilted = point("eq-shift", shift_low=1.1, shift_high=1.3, tilt_low_db=-12, tilt_high_db=6)
    assert label(tilted) == "eq-shift (shift 1.1-1.3, tilt -12 to 6 dB)"
    settled = point("eq-shift+formant-warp", warp_order=24, reequalise=True)
    assert label(settled) == (
        "eq-shift+formant-warp (shift 1.1-1.25, warp 0.03-0.12 at order 24, re-equalised)"
    )


def test_grid_points_do_not_follow_the_policy_defaults() -> None:
    assert point("eq-shift").colour_db == 0.0, "colouring is off unless a point asks for it"
    assert point("eq-shift").pivot_hz == 0.0, "so is the pitch pivot"
    assert point("eq-shift", colour_db=8).colour_bands == 4, "colour asked for has four bands"
    assert point("formant-warp").warp_order == 20, "the warp at the order it was measured at"
    assert not point("eq-shift").reequalise
    assert (point("eq-shift").tilt_low_db, point("eq-shift").tilt_high_db) == (-9.0, 3.0)
    assert AnonymizationPolicy() in GRID, "the default is one of the measured points"


def test_the_grid_covers_every_method_at_several_strengths() -> None:
    methods = [rules.method for rules in GRID]
    every = get_args(AnonymizationPolicy.model_fields["method"].annotation)
    assert set(methods) == set(every)
    assert sum(methods.count(m) >= 2 for m in set(methods)) >= 4, "most at several strengths"
    assert len({label(rules) for rules in GRID}) == len(GRID)


def test_the_summary_stars_the_frontier() -> None:
    result = {
        "n_utterances": 4,
        "asr_model": "tiny.en",
        "eer_original": 0.07,
        "wer_original": 0.18,
        "points": [
            {"label": "a", **measured(0.4, 0.4, 0.3, 0.05), "on_frontier": True},
            {"label": "b", **measured(0.3, 0.3, 0.2, 0.05), "on_frontier": False},
        ],
    }
    lines = summary_lines(result)
    assert lines[2].startswith("*a") and lines[3].startswith(" b")
    assert "draws" not in lines[0]
    assert "each the mean of 3 draws" in summary_lines({**result, "draws": 3})[0]


def test_a_strength_scales_every_voice_move_and_leaves_the_line() -> None:
    default = AnonymizationPolicy()
    assert strengthened(default, 1.0) == default
    half = strengthened(default, 0.5)
    assert math.isclose(half.shift_low, math.sqrt(default.shift_low)), "half the log factor"
    assert math.isclose(half.shift_high, math.sqrt(default.shift_high))
    assert (half.warp_low, half.warp_high) == (default.warp_low / 2, default.warp_high / 2)
    zeros = default.sharpen_zeros
    assert math.isclose(half.sharpen_low - zeros, (default.sharpen_low - zeros) / 2)
    assert math.isclose(half.sharpen_high - zeros, (default.sharpen_high - zeros) / 2)
    assert half.sharpen_zeros == zeros
    unchanged = ("tilt_low_db", "tilt_high_db", "colour_db", "colour_bands", "pivot_hz")
    for setting in (*unchanged, "warp_order", "reequalise", "alpha_low", "alpha_high"):
        assert getattr(half, setting) == getattr(default, setting), setting
    stronger = strengthened(default, 1.2)
    assert stronger.shift_high > default.shift_high and stronger.warp_high > default.warp_high


def test_a_strength_moves_mcadams_alpha_away_from_one() -> None:
    rules = point("mcadams", alpha_low=0.5, alpha_high=0.9)
    assert (strengthened(rules, 0.5).alpha_low, strengthened(rules, 0.5).alpha_high) == (
        0.75,
        0.95,
    )
    awkward = point("mcadams", alpha_low=0.11337613414502819)
    assert 1.0 - (1.0 - awkward.alpha_low) != awkward.alpha_low, "a float that drifts"
    assert strengthened(awkward, 1.0) == awkward, "strength 1 is the rules themselves"
    sharp = AnonymizationPolicy(sharpen_zeros=0.317, sharpen_low=0.868, sharpen_high=0.9)
    assert 0.317 + (0.868 - 0.317) != 0.868, "another float that drifts"
    assert strengthened(sharp, 1.0) == sharp


@pytest.mark.parametrize("strength", [0.0, -1.0, math.nan, math.inf])
def test_a_strength_must_be_a_positive_number(strength: float) -> None:
    with pytest.raises(ValueError, match="positive number"):
        strengthened(AnonymizationPolicy(), strength)


def test_a_strength_past_a_settings_range_names_it() -> None:
    with pytest.raises(ValueError, match="strength 5 takes shift_high out of range"):
        strengthened(AnonymizationPolicy(), 5.0)


def test_strength_labels_lead_with_the_multiple() -> None:
    rules = strengthened(AnonymizationPolicy(), 0.5)
    assert strength_label(rules, 0.5) == f"x0.5 {label(rules)}"


def test_the_frontier_needs_one_label_per_point() -> None:
    rules = AnonymizationPolicy()
    with pytest.raises(ValueError, match="one label per point"):
        evaluate_frontier([], [(rules, anonymizer_for(rules))], labels=[])
