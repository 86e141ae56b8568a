"""``earmuff eval anonymization --purpose``: attack what a reviewer is served for a purpose."""

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


def test_the_synthetic_voice_served_for_intent_leaves_the_attacker_at_chance(
    corpus: Path, tmp_path: Path
) -> None:
    """Three speakers, four clips each (one with no words): every reading is the same
    synthetic voice, so telling the speakers apart from it is guessing, while their own
    voices are told apart."""
    manifest = corpus / "manifests" / "speakers.jsonl"
    out = tmp_path / "intent.json"
    done = runner.invoke(
        app,
        [
            *("anonymization", "--manifest", str(manifest), "--json", str(out)),
            *("--purpose", "intent", "--filter", r"_0(00|06|09|10)\.", "--limit", "12"),
            *("--splits", "1", "--attacker", "campplus", "--threads", "1"),
        ],
    )
    assert done.exit_code == 0, done.output
    result = json.loads(out.read_text())
    assert result["options"]["purpose"] == "intent"
    assert result["anonymizer"]["name"] == "synthetic_voice"
    assert result["n_utterances"] == 11
    (silent,) = result["unmeasured"]["clips"]
    assert silent["reason"] == "no text for the voice to read", "a clip with no words is counted"
    assert result["eer_original"] < 0.3, "the attacker tells the real voices apart"
    for attack in ("eer_ignorant", "eer_lazy_informed"):
        assert result[attack] >= 0.3, f"{attack}: one voice for everyone is near chance"


def test_an_unknown_purpose_is_refused(corpus: Path) -> None:
    manifest = corpus / "manifests" / "speakers.jsonl"
    done = runner.invoke(app, ["anonymization", "--manifest", str(manifest), "--purpose", "slots"])
    assert done.exit_code != 0 and "purposes are transcription, intent" in done.output
