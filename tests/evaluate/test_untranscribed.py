"""``earmuff eval untranscribed`` on a few real clips (tiny.en): the demo's name after
"Alexa" is voiced audio the draft has no word for, and the figures say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from earmuff.cli.evaluate import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_a_scratch_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run also keeps its result in ./earmuff-eval: keep that out of the checkout."""
    monkeypatch.chdir(tmp_path)


def manifest_of(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_eval_untranscribed_counts_unheard_speech_and_what_stays_audible(
    corpus: Path, tmp_path: Path
) -> None:
    lines = (corpus / "manifests" / "pii.jsonl").read_text().splitlines()
    name = json.loads(lines[0])
    assert name["audio_filepath"].endswith("WUWII00000_000.ulaw")
    pii = manifest_of(tmp_path / "pii.jsonl", [name])
    commands = sorted((corpus / "commands").glob("*.wav"))[1:3]
    speakers = manifest_of(
        tmp_path / "speakers.jsonl",
        [{"audio_filepath": str(path), "duration": 3.0, "text": ""} for path in commands],
    )
    out = tmp_path / "untranscribed.json"
    result = runner.invoke(
        app,
        [
            *("untranscribed", "--manifest", str(pii), "--speakers", str(speakers)),
            *("--root", str(corpus), "--model", "tiny.en", "--json", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["task"] == "untranscribed"
    sets = report["sets"]
    assert {name: figures["clips"] for name, figures in sets.items()} == {
        "alexa+name": 1,
        "pii": 1,
        "no_pii": 2,
    }
    joined = sets["alexa+name"]
    assert joined["unheard_spans_with_pii"] == joined["unheard_spans"]
    assert joined["audible_after"] == 0, "the name is bleeped, whatever Whisper wrote"
    assert sets["no_pii"]["unaccounted_spans"] == 0
    assert sets["no_pii"]["audible_before"] == sets["no_pii"]["audible_after"] == 0
    assert "alexa+name: 1 clips" in result.output
