"""``eval pii`` measures what the pipeline does: the account's first name as the
metadata gives it, the wake word never masked as a name; the figures without the name
sit under a key of their own, and the fuzzy match's false masks are counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import numpy as np
import pytest
import soundfile as sf

from earmuff.evaluate.manifest import ManifestEntry, ManifestError, PiiItem
from earmuff.evaluate.pii import (
    WITHOUT_NAMES,
    PiiModels,
    evaluate_pii,
    false_masks,
    read_known_names,
    summary_lines,
)
from earmuff.pii import PiiDetector
from earmuff.pii.names import EXACT_ONLY, NameRules
from earmuff.speech.asr import TimedWord, Transcriber, Transcription

RATE = 8_000
LEVEL = 0.1


class _Listener:
    """Hears a fixed script of timed words in the first listen; in a bleeped copy, only
    the words whose audio the bleep left as it was."""

    def __init__(self, words: list[tuple[str, float, float]]) -> None:
        self.words = words

    def transcribe(
        self,
        samples: np.ndarray,
        sample_rate: int,
        max_seconds: float | None = None,
        hotwords: str | None = None,
        vad: bool | None = None,
    ) -> Transcription:
        heard = tuple(
            TimedWord(f" {text}", start, end, 0.9)
            for text, start, end in self.words
            if np.allclose(
                samples[int(start * sample_rate) : int(end * sample_rate)], LEVEL, atol=1e-3
            )
        )
        return Transcription(heard, " ".join(w.text.strip() for w in heard), "listener")

    @property
    def version(self) -> str:
        return "listener"


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector()


def clip(folder: Path, name: str, text: str, speaker: str) -> ManifestEntry:
    path = folder / f"{name}.wav"
    sf.write(path, np.full(3 * RATE, LEVEL, dtype=np.float32), RATE)
    pii = (PiiItem("PERSON", "Veton"),)
    return ManifestEntry(1, path.name, path, 3.0, text=text, pii=pii, speaker=speaker)


def test_the_top_figures_use_the_known_name_and_the_others_sit_apart(
    tmp_path: Path, detector: PiiDetector
) -> None:
    """Whisper writes "Veton" as "vetan" after the wake word: with the registered first
    name the pipeline masks it, without it nothing does; "Alexa" is never masked."""
    listener = _Listener([("Alexa,", 0.2, 0.7), ("vetan.", 1.2, 1.8)])
    entry = clip(tmp_path, "veton", "Alexa, Veton.", "caller-1")
    models = PiiModels(cast(Transcriber, listener), detector)
    result = evaluate_pii([entry], models, 0.05, known_names={1: ("Veton",)})
    assert result["recall"]["PERSON"] == 1.0
    assert result["residue_rate"]["PERSON"] == 0.0
    [item] = result["items"]
    assert item["masked"] == "Alexa, [PERSON].", "the wake word is no organisation"
    assert item["bleeped_spans"] == [[1.2, 1.8]]
    assert item["known_names"] == ["Veton"]
    without = result[WITHOUT_NAMES]
    assert without["recall"]["PERSON"] == 0.0
    assert without["residue_rate"]["PERSON"] == 1.0
    assert "items" not in without
    assert result["intervals"]["recall"]["PERSON"] == [1.0, 1.0]
    lines = summary_lines(result)
    assert any("without the known names" in line for line in lines)


def test_false_masks_pair_each_utterance_with_names_it_does_not_hold() -> None:
    registered = {"a": ("Veton",), "b": ("Owen",), "c": ("Paul",)}
    utterances = [
        ("a", "turn it on please", "turn it on please"),
        ("b", "is Paul home", "is Paul home"),
        ("c", "ask vetan about it", "ask vetan about it"),
    ]
    counted = false_masks(utterances, registered, NameRules())
    assert counted["pairs"] == 5, "own names and names said in the reference are no pair"
    assert counted["pair_rate"] == pytest.approx(1 / 5), "only 'vetan' for Veton"
    assert counted["examples"] == [
        {"name": "Veton", "text": "ask vetan about it", "masked": "vetan"}
    ]
    assert false_masks(utterances, registered, EXACT_ONLY)["pair_rate"] == 0.0


def test_known_names_are_read_from_the_manifest_lines(tmp_path: Path) -> None:
    manifest = tmp_path / "pii.jsonl"
    lines = [
        {"audio_filepath": "a.wav", "duration": 1, "known_names": ["Veton"]},
        {"audio_filepath": "b.wav", "duration": 1},
    ]
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert read_known_names(manifest) == {1: ("Veton",)}
    manifest.write_text(json.dumps({"audio_filepath": "a.wav", "known_names": "Veton"}))
    with pytest.raises(ManifestError, match=r"pii\.jsonl:1: known_names"):
        read_known_names(manifest)


def test_without_the_wake_words_the_measure_would_bleep_what_the_pipeline_keeps(
    tmp_path: Path, detector: PiiDetector
) -> None:
    """What the measurement did before it was given the pipeline's wake words."""
    listener = _Listener([("Alexa,", 0.2, 0.7), ("vetan.", 1.2, 1.8)])
    entry = clip(tmp_path, "veton", "Alexa, Veton.", "caller-1")
    models = PiiModels(cast(Transcriber, listener), detector, wake_words=())
    [item] = evaluate_pii([entry], models, 0.05, known_names={1: ("Veton",)})["items"]
    assert item["masked"] == "[ORGANIZATION], [PERSON]."


def test_eval_pii_takes_one_fold_of_speakers_and_counts_false_masks(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Veton's clip is in fold 0 of 2 and george's digits in fold 1; the name-free texts
    are paired with Veton, whose name they do not hold."""
    from typer.testing import CliRunner

    from earmuff.cli.evaluate import app

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "pii.json"
    name_free = tmp_path / "name-free.jsonl"
    name_free.write_text(
        json.dumps(
            {
                "audio_filepath": str(corpus / "wuw/calls/00016/WUWII00016_006.ulaw"),
                "duration": 1.0,
                "text": "turn it on and stop the music",
                "speaker": "someone-else",
            }
        )
        + "\n"
    )
    result = CliRunner().invoke(
        app,
        [
            *("pii", "--manifest", str(corpus / "manifests" / "pii.jsonl"), "--json", str(out)),
            *("--model", "tiny.en", "--filter", "WUWII00000_000|phone_george_00"),
            *("--speaker-fold", "0/2", "--name-free", str(name_free)),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert (report["n"], report["n_by_type"]) == (1, {"PERSON": 1})
    assert report["options"]["speaker_fold"] == "0/2"
    assert report["items"][0]["known_names"] == ["Veton"]
    assert set(report[WITHOUT_NAMES]["recall"]) == {"overall", "PERSON"}
    assert report["false_masks"]["name_free_texts"]["pairs"] == 1
    assert report["false_masks"]["name_free_texts"]["pair_rate"] == 0.0
