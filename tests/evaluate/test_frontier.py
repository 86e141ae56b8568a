"""The frontier: which strengths of which method are worth choosing at all."""

from __future__ import annotations

from typing import Any, get_args

from earmuff.config.policy import AnonymizationPolicy
from earmuff.evaluate.frontier import GRID, dominates, label, point, summary_lines


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
