"""``earmuff eval watermark`` end to end on two real clips (WER skipped to stay fast)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from earmuff.audio.watermark import MATCH_STAGES, match_threshold
from earmuff.cli.evaluate import app
from earmuff.evaluate import leaks
from earmuff.evaluate.watermark import bootstrap_interval, exact_interval

runner = CliRunner()
CLIPS = [
    ("wuw/calls/00000/WUWII00000_006.ulaw", 9.04),
    ("wuw/calls/00000/WUWII00000_001.ulaw", 1.6),  # a wake word alone: too short to count
    ("librispeech/train-clean-100/1034-121119-0000.flac", 7.875),
]


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_eval_watermark_reports_every_condition_and_no_false_positive(
    corpus: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "clips.jsonl"
    manifest.write_text(
        "".join(
            json.dumps({"audio_filepath": path, "duration": seconds, "text": ""}) + "\n"
            for path, seconds in CLIPS
        )
    )
    out = tmp_path / "watermark.json"
    args = ["--manifest", str(manifest), "--root", str(corpus), "--json", str(out), "--no-wer"]
    result = runner.invoke(app, ["watermark", *args])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert (report["task"], report["clips"], report["too_short"]) == ("watermark", 2, 1)
    conditions = report["conditions"]
    assert set(conditions) == {
        f"{leak}{cut}"
        for leak in (
            "clean",
            "mp3_64k",
            "ogg_64k",
            "phone_8k_white_20db",
            "phone_8k_pink_20db",
            "8k_noise_20db_ogg",
            "mp3_64k_phone_line",
        )
        for cut in ("", "_excerpt_3s")
    }
    assert all(figures["n"] == 2 for figures in conditions.values())
    assert conditions["clean_excerpt_3s"]["accuracy"] == 1.0
    assert conditions["mp3_64k_excerpt_3s"]["accuracy"] == 1.0
    assert sum(figures["wrong_payload"] for figures in conditions.values()) == 0
    assert conditions["8k_noise_20db_ogg"]["accuracy"] == 1.0
    assert conditions["mp3_64k_phone_line"]["accuracy"] == 1.0
    assert conditions["clean"]["exact_interval"][1] == 1.0
    assert report["false_positives"]["rate"] == 0.0
    assert report["false_positives"]["trials"] == 2 * 5
    assert report["mark_snr_db"]["min"] > 22.0
    assert report["wer"]["clips"] == 0
    assert "identified" in result.output


def test_the_phone_leak_keeps_length_and_sets_the_noise_level() -> None:
    rng = np.random.default_rng(0)
    rate = 16_000
    t = np.arange(2 * rate) / rate
    speech = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    colours: tuple[leaks.NoiseColour, ...] = ("white", "pink")
    for colour in colours:
        copy = leaks.phone(speech, rate, rng, colour)
        assert copy.shape == speech.shape and copy.dtype == np.float32
        noise = copy - speech
        snr = 10 * np.log10(np.mean(speech**2) / np.mean(noise**2))
        assert 17.0 < snr < 21.0, colour


def test_eval_watermark_marks_under_several_keys_and_keeps_to_one_speaker_fold(
    corpus: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "clips.jsonl"
    rows = [
        ("librispeech/train-clean-100/1034-121119-0000.flac", 7.875, "1034"),
        ("wuw/calls/00000/WUWII00000_006.ulaw", 9.04, "wuw-00000"),
    ]
    manifest.write_text(
        "".join(
            json.dumps({"audio_filepath": path, "duration": seconds, "speaker": speaker}) + "\n"
            for path, seconds, speaker in rows
        )
    )
    out = tmp_path / "watermark.json"
    fold = next(f"{i}/2" for i in range(2) if _fold("1034") == i)
    args = ["--manifest", str(manifest), "--root", str(corpus), "--json", str(out), "--no-wer"]
    args += ["--keys", "3", "--marks", "2", "--min-seconds", "4", "--speaker-fold", fold]
    args += ["--leak", "mp3_64k_phone_line"]
    result = runner.invoke(app, ["watermark", *args])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert (report["keys"], report["marks_per_clip"]) == (3, 2)
    assert report["options"]["speaker_fold"] == fold
    assert (report["clips"], report["speakers"], report["copies"]) == (1, 1, 2)
    assert set(report["conditions"]) == {"mp3_64k_phone_line", "mp3_64k_phone_line_excerpt_3s"}
    assert report["conditions"]["mp3_64k_phone_line"]["identified"] == 2
    assert report["false_positives"]["mp3_64k_phone_line_other_key"] == 0
    assert report["false_positives"]["trials"] == 2 * 4

    result = runner.invoke(app, ["watermark", *args[:-2], "--leak", "fax"])
    assert result.exit_code == 2 and "unknown leak fax" in result.output


def test_eval_watermark_identifies_among_issued_codes_and_counts_codes_not_issued(
    corpus: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "clips.jsonl"
    clip = {"audio_filepath": "wuw/calls/00000/WUWII00000_006.ulaw", "duration": 9.04}
    manifest.write_text(json.dumps(clip) + "\n")
    out = tmp_path / "watermark.json"
    args = ["--manifest", str(manifest), "--root", str(corpus), "--json", str(out), "--no-wer"]
    args += ["--keys", "2", "--leak", "8k_noise_20db_ogg", "--candidates", "1000"]
    result = runner.invoke(app, ["watermark", *args])
    assert result.exit_code == 0, result.output
    assert "identified among 1000 issued codes" in result.output
    report = json.loads(out.read_text())
    assert report["candidates"] == 1000
    assert report["match_thresholds"] == [
        round(match_threshold(1000, 2 * alignments, budget), 2)
        for alignments, budget in MATCH_STAGES
    ]
    whole = {
        way: report["conditions"][f"8k_noise_20db_ogg{way}"] for way in ("", "_codebook", "_blind")
    }
    assert all((figures["n"], figures["identified"]) == (1, 1) for figures in whole.values())
    positives = report["false_positives"]
    assert positives["8k_noise_20db_ogg_code_not_issued"] == 0
    assert positives["8k_noise_20db_ogg_other_key"] == positives["unmarked"] == 0
    assert positives["trials"] == 5


def _fold(speaker: str) -> int:
    return hashlib.sha256(speaker.encode()).digest()[0] % 2


def test_intervals_bound_a_perfect_score_and_widen_when_speakers_fail_together() -> None:
    assert exact_interval(0, 0) is None
    low, high = exact_interval(200, 200) or [0.0, 0.0]
    assert high == 1.0 and 0.98 < low < 0.985, "200 of 200 still allows a 1.8 % miss rate"
    together = [(f"s{i % 10}", i % 4, i % 10 != 0) for i in range(200)]
    apart = [(f"s{i % 10}", i % 4, i % 100 >= 10) for i in range(200)]
    spread_together = np.diff(bootstrap_interval(together) or [0.0, 0.0])[0]
    spread_apart = np.diff(bootstrap_interval(apart) or [0.0, 0.0])[0]
    assert spread_together > spread_apart, "misses of one speaker are one piece of evidence"
    assert bootstrap_interval([("a", 0, True)] * 5) == [1.0, 1.0]
