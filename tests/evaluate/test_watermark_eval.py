"""``earmuff eval watermark`` end to end on two real clips (WER skipped to stay fast)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from earmuff.cli.evaluate import app
from earmuff.evaluate import leaks

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
        for leak in ("clean", "mp3_64k", "ogg_64k", "phone_8k_white_20db", "phone_8k_pink_20db")
        for cut in ("", "_excerpt_3s")
    }
    assert all(figures["n"] == 2 for figures in conditions.values())
    assert conditions["clean_excerpt_3s"]["accuracy"] == 1.0
    assert conditions["mp3_64k_excerpt_3s"]["accuracy"] == 1.0
    assert sum(figures["wrong_payload"] for figures in conditions.values()) == 0
    assert report["false_positives"]["rate"] == 0.0
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
