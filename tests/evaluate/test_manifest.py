"""Reading manifests: paths resolved, every line checked before any model runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from earmuff.evaluate.manifest import (
    AudioLoadError,
    ManifestError,
    PiiItem,
    default_root,
    load_audio,
    load_entry,
    read_manifest,
)
from tests.audio_samples import tone, wav


def write_manifest(folder: Path, rows: list[dict[str, Any] | str]) -> Path:
    manifest = folder / "manifests" / "test.jsonl"
    manifest.parent.mkdir(parents=True, exist_ok=True)
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "a.wav").write_bytes(wav(0.5))
    (tmp_path / "clips" / "b.wav").write_bytes(wav(0.5, seed=1))
    return tmp_path


def test_relative_paths_resolve_against_the_manifest_folders_parent(corpus_dir: Path) -> None:
    manifest = write_manifest(
        corpus_dir,
        [
            {
                "audio_filepath": "clips/a.wav",
                "duration": 0.5,
                "text": "call Jane",
                "pii": [{"type": "PERSON", "text": "Jane"}],
                "speaker": "s1",
                "source": "test",
            }
        ],
    )
    assert default_root(manifest) == corpus_dir.resolve()
    [entry] = read_manifest(manifest, require=("text", "pii"))
    assert entry.path == corpus_dir.resolve() / "clips" / "a.wav"
    assert entry.audio_filepath == "clips/a.wav"
    assert entry.pii == (PiiItem("PERSON", "Jane"),)
    assert (entry.line, entry.duration, entry.speaker, entry.source) == (1, 0.5, "s1", "test")


def test_absolute_paths_are_kept_and_an_explicit_root_wins(
    corpus_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    absolute = str(corpus_dir / "clips" / "b.wav")
    manifest = write_manifest(
        tmp_path_factory.mktemp("elsewhere"),
        [
            {"audio_filepath": absolute, "duration": 0.5, "label": "wake"},
            {"audio_filepath": "clips/a.wav", "duration": 0.5, "label": "other"},
        ],
    )
    entries = read_manifest(manifest, root=corpus_dir, require=("label",))
    assert [e.path for e in entries] == [Path(absolute), corpus_dir / "clips" / "a.wav"]
    assert [e.label for e in entries] == ["wake", "other"]


def test_filter_and_limit_choose_clips_and_blank_lines_are_skipped(corpus_dir: Path) -> None:
    rows: list[dict[str, Any] | str] = [
        {"audio_filepath": "clips/a.wav", "duration": 0.5, "text": "one"},
        "",
        {"audio_filepath": "clips/b.wav", "duration": 0.5, "text": "two"},
        {"audio_filepath": "clips/missing_but_filtered_out.wav", "duration": 0.5},
    ]
    manifest = write_manifest(corpus_dir, rows)
    chosen = read_manifest(manifest, pattern=r"/b\.", require=("text",))
    assert [e.text for e in chosen] == ["two"]
    assert [e.line for e in read_manifest(manifest, limit=2)] == [1, 3]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"duration": 1.0, "text": "x"}, "missing field(s) audio_filepath"),
        ({"audio_filepath": "clips/a.wav", "text": "x"}, "missing field(s) duration"),
        ({"audio_filepath": "clips/a.wav", "duration": 1.0}, "missing field(s) text"),
        ({"audio_filepath": "clips/a.wav", "duration": -1, "text": "x"}, "duration must be"),
        ({"audio_filepath": "clips/a.wav", "duration": "1", "text": "x"}, "duration must be"),
        ({"audio_filepath": "clips/a.wav", "duration": 1, "text": 3}, "text must be a string"),
        (
            {"audio_filepath": "clips/a.wav", "duration": 1, "text": "x", "label": "maybe"},
            "label must be one of wake, other",
        ),
        (
            {"audio_filepath": "clips/a.wav", "duration": 1, "text": "x", "pii": [{"type": "P"}]},
            "each pii item needs",
        ),
        ({"audio_filepath": "clips/nope.wav", "duration": 1, "text": "x"}, "does not exist"),
        ({"audio_filepath": "clips/a.wav", "duration": 1, "text": "x", "offset": -1}, "offset"),
        ({"audio_filepath": "clips/a.wav", "duration": 1, "text": "x", "offset": "2"}, "offset"),
        ({"audio_filepath": "clips/a.wav", "duration": 1, "text": "x", "offset": True}, "offset"),
        ('{"audio_filepath": "clips/a.wav", "duration": 1, "text": "x", "offset": NaN}', "offset"),
        ('{"audio_filepath": "clips/a.wav", "duration": Infinity, "text": "x"}', "duration"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_a_bad_line_is_refused_with_its_file_and_line_number(
    corpus_dir: Path, line: dict[str, Any] | str, message: str
) -> None:
    good = {"audio_filepath": "clips/a.wav", "duration": 1.0, "text": "fine"}
    manifest = write_manifest(corpus_dir, [good, line])
    with pytest.raises(ManifestError) as caught:
        read_manifest(manifest, require=("text",))
    assert f"{manifest}:2:" in str(caught.value)
    assert message in str(caught.value)


def test_an_empty_transcript_is_a_valid_reference(corpus_dir: Path) -> None:
    manifest = write_manifest(
        corpus_dir, [{"audio_filepath": "clips/a.wav", "duration": 0.5, "text": ""}]
    )
    assert read_manifest(manifest, require=("text",))[0].text == ""


def test_a_missing_manifest_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read manifest"):
        read_manifest(tmp_path / "manifests" / "none.jsonl")


def test_headerless_mu_law_and_wav_load_through_one_function(tmp_path: Path) -> None:
    samples = tone(0.5, 8_000)
    ulaw = tmp_path / "call.ulaw"
    sf.write(ulaw, samples, 8_000, format="RAW", subtype="ULAW")
    assert ulaw.stat().st_size == len(samples), "one byte per sample, no header"
    decoded, rate = load_audio(ulaw)
    assert rate == 8_000
    assert decoded.dtype == np.float32
    assert len(decoded) == len(samples)
    assert np.max(np.abs(decoded - samples)) < 0.02, "mu-law keeps the waveform"
    (tmp_path / "clip.wav").write_bytes(wav(0.25, 16_000))
    decoded, rate = load_audio(tmp_path / "clip.wav")
    assert (rate, len(decoded)) == (16_000, 4_000)


def test_an_offset_cuts_its_part_of_the_file_without_a_copy(tmp_path: Path) -> None:
    """NeMo's convention: several clips of one long recording, told apart in reports
    and caches by where they start."""
    low, high = tone(1.0, 8_000, seed=0), tone(1.0, 8_000, seed=1)
    sf.write(tmp_path / "long.wav", np.concatenate([low, high]), 8_000, subtype="FLOAT")
    manifest = write_manifest(
        tmp_path,
        [
            {"audio_filepath": "long.wav", "duration": 2.0},
            {"audio_filepath": "long.wav", "duration": 1.0, "offset": 0},
            {"audio_filepath": "long.wav", "duration": 0.5, "offset": 1.25},
        ],
    )
    whole, first, part = read_manifest(manifest)
    assert (whole.offset, first.offset, part.offset) == (None, 0.0, 1.25)
    assert [e.name for e in (whole, first, part)] == ["long.wav", "long.wav@0", "long.wav@1.25"]
    assert len({whole.key, first.key, part.key}) == 3
    samples, rate = load_entry(part)
    assert (rate, len(samples)) == (8_000, 4_000)
    assert np.allclose(samples, high[2_000:6_000], atol=1e-6)
    assert len(load_entry(whole)[0]) == 16_000


def test_an_offset_past_the_end_is_an_audio_error(tmp_path: Path) -> None:
    (tmp_path / "short.wav").write_bytes(wav(0.5))
    manifest = write_manifest(
        tmp_path, [{"audio_filepath": "short.wav", "duration": 1.0, "offset": 0.5}]
    )
    [entry] = read_manifest(manifest)
    with pytest.raises(AudioLoadError, match=r"offset 0\.5 s is past the end"):
        load_entry(entry)


def test_a_part_too_short_for_one_sample_is_an_audio_error(tmp_path: Path) -> None:
    (tmp_path / "short.wav").write_bytes(wav(0.5))
    manifest = write_manifest(
        tmp_path, [{"audio_filepath": "short.wav", "duration": 1e-6, "offset": 0.1}]
    )
    [entry] = read_manifest(manifest)
    with pytest.raises(AudioLoadError, match="holds no sample"):
        load_entry(entry)


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
_FIELDS = ("audio_filepath", "duration", "offset", "label", "text", "pii", "speaker", "source")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    line=st.dictionaries(st.sampled_from(_FIELDS), _VALUES, max_size=len(_FIELDS)),
    path=st.sampled_from(["clips/a.wav", "clips/none.wav", ""]),
)
def test_any_line_is_an_entry_or_a_manifest_error(
    corpus_dir: Path, line: dict[str, Any], path: str
) -> None:
    """Whatever a line holds, the run stops with its line number or reads the clip:
    never an exception the command line would show as a traceback."""
    if path:
        line.setdefault("audio_filepath", path)
    manifest = write_manifest(corpus_dir, [json.dumps(line, allow_nan=True)])
    try:
        [entry] = read_manifest(manifest, require=("text",))
    except ManifestError as error:
        assert f"{manifest}:1:" in str(error)
        return
    assert entry.path.is_file() and entry.duration > 0
    assert entry.offset is None or entry.offset >= 0
    try:
        samples, _ = load_entry(entry)
    except AudioLoadError:
        return
    assert len(samples) > 0
