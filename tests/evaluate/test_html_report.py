"""The evaluation report: one self-contained page, each figure beside its target."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from earmuff.evaluate.html_report import det_points, render_report


def test_det_points_run_from_all_missed_to_all_accepted() -> None:
    miss, false_accept = det_points([0.9, 0.8, 0.3], [0.5, 0.1])
    assert miss[0] == 1.0 and false_accept[0] == 0.0
    assert miss[-1] == 0.0 and false_accept[-1] == 1.0
    assert np.all(np.diff(miss) <= 0) and np.all(np.diff(false_accept) >= 0)
    assert np.isclose(miss[2], 1 / 3) and false_accept[2] == 0.0, "two targets above any other"


def test_the_page_holds_each_section_its_plots_and_the_attribution(tmp_path: Path) -> None:
    results = [
        {
            "task": "wake", "n_wake": 2, "n_other": 2, "miss_rate": 0.0,
            "false_accept_rate": 0.5, "rtf": 0.02,
            "rules": [{"rule": "openwakeword >= 0.5", "miss_rate": 0.0, "false_accept_rate": 0.5}],
            "clips": [
                {"label": "wake", "openwakeword": 0.9}, {"label": "wake", "openwakeword": 0.7},
                {"label": "other", "openwakeword": 0.6}, {"label": "other", "openwakeword": 0.1},
            ],
        },
        {"task": "asr", "model": "whisper-base (x)", "n": 3, "wer": 0.17, "rtf": 0.1},
        {
            "task": "pii", "n": 4, "model": "whisper-base",
            "recall": {"PERSON": 0.9, "PHONE_NUMBER": 1.0},
            "residue_rate": {"PERSON": 0.05, "PHONE_NUMBER": 0.0},
            "targets": {"recall": {"PERSON": 0.85}, "residue_rate": {"PERSON": 0.1}},
        },
        {
            "task": "anonymization", "n_speakers": 3, "n_utterances": 9, "method": "mcadams",
            "eer_original": 0.07, "eer_ignorant": 0.4, "eer_lazy_informed": 0.36,
            "eer_semi_informed": 0.3, "wer_original": 0.18, "wer_anonymized": 0.25,
            "scores": {"lazy": {"target": [0.8, 0.7], "nontarget": [0.75, 0.2]}},
        },
    ]  # fmt: skip
    page = render_report(results, tmp_path / "report.html").read_text()
    for title in ("Wake-word verification", "Speech recognition", "PII", "Voice anonymization"):
        assert title in page
    assert page.count("data:image/png;base64,") == 6
    assert "90.0 %" in page and "85.0 %" in page
    assert "CC BY-SA 4.0" in page


def test_the_frontier_section_lists_every_point_and_marks_the_frontier(tmp_path: Path) -> None:
    point = {"eer_ignorant": 0.3, "eer_lazy_informed": 0.3, "eer_semi_informed": 0.25}
    frontier = {
        "task": "frontier", "n_utterances": 9, "asr_model": "tiny.en",
        "eer_original": 0.07, "wer_original": 0.18,
        "targets": {"eer_ignorant": 0.35, "eer_semi_informed": 0.3, "wer_rise": 0.08},
        "points": [
            {"label": "mild", **point, "wer_rise": 0.02, "on_frontier": True},
            {"label": "harsh", **point, "wer_rise": 0.3, "on_frontier": False},
        ],
    }  # fmt: skip
    page = render_report([frontier], tmp_path / "report.html").read_text()
    assert "Privacy/utility frontier" in page
    assert "* mild" in page and "harsh" in page and "* harsh" not in page
    assert page.count("data:image/png;base64,") == 1


def test_the_anonymization_table_shows_the_intervals_over_speakers(tmp_path: Path) -> None:
    result = {
        "task": "anonymization", "n_speakers": 30, "n_utterances": 284, "method": "eq-shift",
        "eer_original": 0.075, "eer_ignorant": 0.355, "eer_lazy_informed": 0.356,
        "eer_semi_informed": 0.315, "wer_original": 0.173, "wer_anonymized": 0.257,
        "wer_rise": 0.0848,
        "intervals": {
            "level": 0.95, "replicates": 1000, "resampled": "speakers",
            "eer_ignorant": [0.301, 0.412], "eer_lazy_informed": None,
            "eer_semi_informed": [0.25, 0.38], "wer_rise": [0.061, 0.109],
        },
    }  # fmt: skip
    page = render_report([result], tmp_path / "report.html").read_text()
    assert "95 % interval over speakers" in page
    assert "30.1 % to 41.2 %" in page and "6.1 % to 10.9 %" in page
    assert "<td>lazy_informed</td><td>35.6 %</td><td></td>" in page, "none measured, none shown"
