"""The privacy/utility curve: several anonymizers and strengths measured on one corpus.

Every point is a full ``evaluate_draws`` run; they share one cache, so the original
clips are embedded and transcribed once, and one seed, so every point draws its
parameters for the same clips in the same order. A point is on the frontier when
no other point hides voices at least as well from every attacker for no more WER.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from earmuff.audio.anonymize import Anonymizer
from earmuff.config.policy import AnonymizationPolicy
from earmuff.evaluate.anonymization import (
    TARGETS,
    EvaluationCache,
    evaluate_draws,
    meets_targets,
)
from earmuff.evaluate.manifest import ManifestEntry
from earmuff.evaluate.report import Progress, percent

ATTACKS = ("eer_ignorant", "eer_lazy_informed", "eer_semi_informed")


BEFORE_TILT = (-9.0, 3.0)
"""The line's slope range, dB per octave, of every point measured before it was a setting."""

BEFORE_DEFAULTS: dict[str, float | int | bool] = {
    "shift_low": 1.1,
    "shift_high": 1.25,
    "warp_low": 0.03,
    "warp_high": 0.12,
    "tilt_low_db": BEFORE_TILT[0],
    "tilt_high_db": BEFORE_TILT[1],
    "colour_db": 0.0,
    "colour_bands": 4,
    "pivot_hz": 0.0,
    "warp_order": 20,
    "reequalise": False,
}
"""What a grid point gets unless it asks otherwise: the sizes the grid was first
measured at, every refinement off (colour, when asked for, in four bands; the line's
slope as before it was a setting; the formant warp at LPC order 20), so the grid
measures the same points whatever the policy's defaults."""


def point(method: str, **settings: float | int | bool) -> AnonymizationPolicy:
    """A grid point that names every setting its method uses."""
    return AnonymizationPolicy.model_validate({"method": method, **BEFORE_DEFAULTS, **settings})


def pivoted(
    shift_high: float,
    warp_low: float,
    warp_high: float,
    colour_db: float = 8.0,
    colour_bands: int = 4,
    warp_order: int = 20,
    reequalise: bool = False,
    tilt: tuple[float, float] = BEFORE_TILT,
    *,
    shift_low: float = 1.1,
    method: str = "eq-shift+formant-warp",
    **more: float,
) -> AnonymizationPolicy:
    """The default's family: eq-shift with random colour and the 160 Hz pitch pivot,
    then the formant warp (and what ``method`` adds, set by ``more``); its points differ
    only in these settings."""
    return point(
        method,
        shift_low=shift_low,
        shift_high=shift_high,
        colour_db=colour_db,
        colour_bands=colour_bands,
        pivot_hz=160.0,
        warp_low=warp_low,
        warp_high=warp_high,
        warp_order=warp_order,
        reequalise=reequalise,
        tilt_low_db=tilt[0],
        tilt_high_db=tilt[1],
        **more,
    )


def sharpened(
    shift: tuple[float, float],
    warp: tuple[float, float],
    poles: tuple[float, float],
    zeros: float = 0.55,
    tilt: tuple[float, float] = (-9.0, 6.0),
) -> AnonymizationPolicy:
    """The settled chain (order 24, re-equalised, slope -9 to +6 unless ``tilt`` says
    otherwise) with a codec's postfilter after the warp, its poles drawn from ``poles``."""
    return pivoted(
        shift[1],
        *warp,
        warp_order=24,
        reequalise=True,
        tilt=tilt,
        shift_low=shift[0],
        method="eq-shift+formant-warp+sharpen",
        sharpen_low=poles[0],
        sharpen_high=poles[1],
        sharpen_zeros=zeros,
    )


GRID: tuple[AnonymizationPolicy, ...] = (
    point("mcadams", alpha_low=0.7, alpha_high=0.9),
    point("mcadams", alpha_low=0.5, alpha_high=0.9),
    point("eq-shift", shift_low=1.05, shift_high=1.15),
    point("eq-shift", shift_low=1.1, shift_high=1.25),
    point("eq-shift", shift_low=1.15, shift_high=1.35),
    point("formant-warp", warp_low=0.05, warp_high=0.12),
    point("eq-shift+mcadams", shift_low=1.1, shift_high=1.25, alpha_low=0.8, alpha_high=0.95),
    point("eq-shift+mcadams", shift_low=1.1, shift_high=1.25, alpha_low=0.7, alpha_high=0.9),
    point("eq-shift+formant-warp", shift_low=1.05, shift_high=1.2, warp_low=0.05, warp_high=0.1),
    point(
        "eq-shift+formant-warp",
        shift_low=1.05,
        shift_high=1.2,
        colour_db=8.0,
        warp_low=0.05,
        warp_high=0.1,
    ),
    point("eq-shift+formant-warp", shift_low=1.1, shift_high=1.25, warp_low=0.05, warp_high=0.12),
    point("eq-shift", shift_low=1.1, shift_high=1.3, colour_db=8.0, pivot_hz=160.0),
    pivoted(shift_high=1.3, warp_low=0.05, warp_high=0.1),
    pivoted(shift_high=1.3, warp_low=0.03, warp_high=0.12),
    pivoted(shift_high=1.25, warp_low=0.07, warp_high=0.12),
    pivoted(shift_high=1.3, warp_low=0.03, warp_high=0.12, colour_db=12.0, colour_bands=6),
    pivoted(shift_high=1.3, warp_low=0.03, warp_high=0.12, warp_order=24),
    pivoted(shift_high=1.3, warp_low=0.02, warp_high=0.08, warp_order=28),
    pivoted(shift_high=1.3, warp_low=0.03, warp_high=0.12, warp_order=28),
    pivoted(shift_high=1.3, warp_low=0.03, warp_high=0.12, reequalise=True),
    pivoted(shift_high=1.3, warp_low=0.03, warp_high=0.12, warp_order=24, reequalise=True),
    pivoted(shift_high=1.25, warp_low=0.03, warp_high=0.12, warp_order=24, reequalise=True),
    *(
        pivoted(1.25, 0.03, 0.12, warp_order=24, reequalise=True, tilt=tilt)
        for tilt in ((-9.0, 6.0), (-12.0, 3.0), (-12.0, 6.0))
    ),
    pivoted(1.22, 0.03, 0.12, warp_order=24, reequalise=True, tilt=(-12.0, 3.0)),
    sharpened((1.1, 1.25), (0.03, 0.12), (0.66, 0.74), zeros=0.6),
    sharpened((1.1, 1.25), (0.03, 0.12), (0.7, 0.8)),
    sharpened((1.1, 1.25), (0.03, 0.12), (0.8, 0.92), zeros=0.5),
    sharpened((1.093, 1.231), (0.0279, 0.1116), (0.7, 0.8)),
    *(
        sharpened((1.093, 1.231), (0.0279, 0.1116), (0.7, 0.8), tilt=tilt)
        for tilt in ((-6.0, 6.0), (-6.0, 9.0), (-3.0, 12.0))
    ),
    sharpened((1.093, 1.231), (0.0234, 0.0936), (0.7, 0.8), tilt=(-6.0, 9.0)),
)
"""Each method from mild to strong; the milder ends keep words, the stronger hide voices."""


def strengthened(rules: AnonymizationPolicy, strength: float) -> AnonymizationPolicy:
    """``rules`` with every move of the voice ``strength`` times as large: the shift
    factors' logarithms, the formant warp, the sharpening's poles' distance from its zeros
    and McAdams' distance from 1 all scaled alike (those the method uses), the random
    line left as it is (it is a telephone line, not a voice).

    The grid compares methods; a strength curve answers what it cannot: where along the
    chosen method's own axis the WER target falls, and how much privacy is left there.
    A strength that takes a setting out of its range is a ValueError naming it."""
    if not (math.isfinite(strength) and strength > 0):
        raise ValueError(f"a strength must be a positive number, not {strength:g}")
    by_step = {
        "eq-shift": {
            "shift_low": rules.shift_low**strength,
            "shift_high": rules.shift_high**strength,
        },
        "formant-warp": {
            "warp_low": rules.warp_low * strength,
            "warp_high": rules.warp_high * strength,
        },
        "sharpen": {
            "sharpen_low": rules.sharpen_low
            + (rules.sharpen_low - rules.sharpen_zeros) * (strength - 1.0),
            "sharpen_high": rules.sharpen_high
            + (rules.sharpen_high - rules.sharpen_zeros) * (strength - 1.0),
        },
        "mcadams": {
            "alpha_low": rules.alpha_low + (1.0 - rules.alpha_low) * (1.0 - strength),
            "alpha_high": rules.alpha_high + (1.0 - rules.alpha_high) * (1.0 - strength),
        },
    }
    scaled = {
        setting: value
        for step in rules.method.split("+")
        for setting, value in by_step[step].items()
    }
    try:
        return AnonymizationPolicy.model_validate({**rules.model_dump(), **scaled})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "the anonymization policy"
        raise ValueError(
            f"strength {strength:g} takes {where} out of range: {error['msg']}"
        ) from None


def strength_label(rules: AnonymizationPolicy, strength: float) -> str:
    """A strength curve's point: its multiple first, then its settings."""
    return f"x{strength:g} {label(rules)}"


def label(rules: AnonymizationPolicy) -> str:
    """A point's name: the method and only the settings it uses."""
    usual_bands = rules.colour_bands == BEFORE_DEFAULTS["colour_bands"]
    bands = "" if usual_bands else f" in {rules.colour_bands} bands"
    colour = f", colour {rules.colour_db:g} dB{bands}" if rules.colour_db else ""
    pivot = f", pivot {rules.pivot_hz:g} Hz" if rules.pivot_hz else ""
    slope = (rules.tilt_low_db, rules.tilt_high_db)
    tilt = f", tilt {slope[0]:g} to {slope[1]:g} dB" if slope != BEFORE_TILT else ""
    usual_order = rules.warp_order == BEFORE_DEFAULTS["warp_order"]
    order = "" if usual_order else f" at order {rules.warp_order}"
    settings = {
        "mcadams": f"alpha {rules.alpha_low:g}-{rules.alpha_high:g}",
        "eq-shift": f"shift {rules.shift_low:g}-{rules.shift_high:g}{tilt}{colour}{pivot}",
        "formant-warp": f"warp {rules.warp_low:g}-{rules.warp_high:g}{order}",
        "sharpen": f"sharpen {rules.sharpen_low:g}-{rules.sharpen_high:g}"
        f" over {rules.sharpen_zeros:g}",
    }
    used = ", ".join(settings[step] for step in rules.method.split("+"))
    again = ", re-equalised" if rules.reequalises else ""
    return f"{rules.method} ({used}{again})"


def evaluate_frontier(
    entries: Sequence[ManifestEntry],
    points: Sequence[tuple[AnonymizationPolicy, Anonymizer]],
    *,
    asr_model: str = "tiny.en",
    splits: int = 5,
    seed: int = 0,
    draws: int = 1,
    attacker: str = "resemblyzer",
    labels: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Measure every point (as the mean of ``draws`` draws of every clip's parameters);
    return them with their frontier membership, JSON-ready. ``labels`` name the points
    (by default, each by its settings)."""
    if labels is None:
        labels = [label(rules) for rules, _ in points]
    if len(labels) != len(points):
        raise ValueError("need one label per point")
    cache = EvaluationCache(attacker=attacker)
    measured = []
    for (rules, anonymizer), name in zip(points, labels, strict=True):
        result = evaluate_draws(
            entries,
            anonymizer,
            draws=draws,
            seed=seed,
            cache=cache,
            asr_model=asr_model,
            splits=splits,
            progress=progress,
        )
        measured.append(
            {
                "label": name,
                "policy": rules.model_dump(),
                **{key: result[key] for key in (*ATTACKS, "wer_rise", "rtf")},
                "eer_original": result["eer_original"],
                "wer_original": result["wer_original"],
                "wer_anonymized": result["wer_anonymized"],
                "linkability": result["legal"]["lazy_informed"]["linkability"],
                "singling_out": result["legal"]["lazy_informed"]["singling_out"],
                "meets_targets": meets_targets(result),
                "intervals": result["intervals"],
            }
        )
    for point in measured:
        point["on_frontier"] = not any(dominates(other, point) for other in measured)
    first = measured[0] if measured else {}
    return {
        "n_utterances": len(entries),
        "asr_model": asr_model,
        "attacker": cache.speaker_encoder().version,
        "splits": splits,
        "seed": seed,
        "draws": draws,
        "eer_original": first.get("eer_original"),
        "wer_original": first.get("wer_original"),
        "targets": TARGETS,
        "points": measured,
    }


def dominates(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``a`` hides voices at least as well from every attacker, for no more WER, and is
    strictly better somewhere."""
    keys = (*ATTACKS, "wer_rise")
    if any(a[key] is None or b[key] is None for key in keys):
        return False
    no_worse = all(a[k] >= b[k] for k in ATTACKS) and a["wer_rise"] <= b["wer_rise"]
    better = any(a[k] > b[k] for k in ATTACKS) or a["wer_rise"] < b["wer_rise"]
    return no_worse and better


def draws_note(draws: int) -> str:
    return f", each the mean of {draws} draws" if draws > 1 else ""


def summary_lines(result: dict[str, Any]) -> list[str]:
    lines = [
        f"{len(result['points'])} points on {result['n_utterances']} clips"
        f"{draws_note(result.get('draws', 1))}; originals: EER "
        f"{percent(result['eer_original'])}, WER {percent(result['wer_original'])} "
        f"({result['asr_model']})",
        f"{'point':<70} {'ignorant':>9} {'lazy':>8} {'semi':>8} {'WER rise':>9}",
    ]
    for point in result["points"]:
        mark = "*" if point["on_frontier"] else " "
        lines.append(
            f"{mark}{point['label']:<69} {percent(point['eer_ignorant']):>9} "
            f"{percent(point['eer_lazy_informed']):>8} {percent(point['eer_semi_informed']):>8} "
            f"{percent(point['wer_rise']):>9}"
        )
    lines.append("* on the frontier: no other point is as private for as little WER")
    return lines
