"""Labelled clips from a JSON Lines manifest, and their audio as numpy arrays.

A manifest line is one clip: ``audio_filepath`` (relative to a root folder, or
absolute), ``duration``, and what a task needs: ``label`` (``wake``/``other``),
``text``, ``pii`` (a list of ``{"type", "text"}``), ``speaker``, ``source``. Every line
is checked before any model runs, so a typo fails in a second with its line number
instead of halfway through an hour of audio.

A line with an ``offset`` (NeMo's convention) is the part of its file that starts that
many seconds in and lasts ``duration``: several clips can be cut from one long
recording without cutting it into files, which for a household's own audio would mean
plaintext copies on disk.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from earmuff.audio import AudioError, decode_audio
from earmuff.audio.bleep import Samples
from earmuff.config import IngestLimits

LABELS = ("wake", "other")
ULAW_SUFFIXES = (".ulaw", ".ul")
ULAW_RATE = 8_000
MAX_EVAL_SECONDS = 3_600.0
"""Evaluation audio is trusted corpus data: the upload limits would refuse long clips."""


class ManifestError(ValueError):
    """A manifest line cannot be used; the message names the file and the line."""


class AudioLoadError(ValueError):
    """A clip's audio cannot be read; the message names the file."""


@dataclass(frozen=True)
class PiiItem:
    type: str
    text: str


@dataclass(frozen=True)
class ManifestEntry:
    """One clip. ``audio_filepath`` is kept as written: reports name clips by it."""

    line: int
    audio_filepath: str
    path: Path
    duration: float
    label: str | None = None
    text: str | None = None
    pii: tuple[PiiItem, ...] = ()
    speaker: str | None = None
    source: str | None = None
    offset: float | None = None

    @property
    def name(self) -> str:
        """How reports name the clip: its file, and where in it a cut clip starts."""
        return _at(self.audio_filepath, self.offset)

    @property
    def key(self) -> str:
        """Tells apart clips cut from one file: what caches key on."""
        return _at(str(self.path), self.offset)


def _at(file: str, offset: float | None) -> str:
    return file if offset is None else f"{file}@{offset:g}"


def default_root(manifest: Path) -> Path:
    """The corpus folder: manifests live in ``<corpus>/manifests/``."""
    return manifest.resolve().parent.parent


def read_manifest(
    manifest: Path,
    root: Path | None = None,
    require: Iterable[str] = (),
    pattern: str | None = None,
    limit: int | None = None,
) -> list[ManifestEntry]:
    """The manifest's clips that match ``pattern`` (a regex searched in
    ``audio_filepath``), at most ``limit`` of them, each checked to have the fields in
    ``require`` and an audio file that exists."""
    base = root if root is not None else default_root(manifest)
    required = tuple(require)
    wanted = re.compile(pattern) if pattern else None
    try:
        lines = manifest.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ManifestError(f"cannot read manifest {manifest}: {exc.strerror}") from None
    entries = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{manifest}:{number}"
        raw = parse_json(line, where)
        if wanted is not None and not wanted.search(str(raw.get("audio_filepath", ""))):
            continue
        entries.append(to_entry(raw, number, base, required, where))
        if limit is not None and len(entries) >= limit:
            break
    for entry in entries:
        if not entry.path.is_file():
            raise ManifestError(f"{manifest}:{entry.line}: audio file {entry.path} does not exist")
    return entries


def parse_json(line: str, where: str) -> dict[str, Any]:
    """Every line must be a JSON object, even one the filter will skip."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: a line must be a JSON object")
    return raw


def to_entry(
    raw: dict[str, Any], number: int, root: Path, require: tuple[str, ...], where: str
) -> ManifestEntry:
    """One manifest line as an entry, or a :class:`ManifestError` saying what is wrong.

    ``text`` may be empty: a clip where the annotator heard no words is a fair test
    of a recogniser that should write none.
    """
    missing = [key for key in ("audio_filepath", "duration", *require) if raw.get(key) is None]
    if missing:
        raise ManifestError(f"{where}: missing field(s) {', '.join(missing)}")
    audio_filepath = _string(raw, "audio_filepath", where)
    label = _optional_string(raw, "label", where)
    if label is not None and label not in LABELS:
        raise ManifestError(f"{where}: label must be one of {', '.join(LABELS)}, not {label!r}")
    path = Path(audio_filepath)
    return ManifestEntry(
        line=number,
        audio_filepath=audio_filepath,
        path=path if path.is_absolute() else root / path,
        duration=_duration(raw, where),
        label=label,
        text=_optional_string(raw, "text", where, allow_empty=True),
        pii=_pii(raw.get("pii"), where),
        speaker=_optional_string(raw, "speaker", where),
        source=_optional_string(raw, "source", where),
        offset=_offset(raw, where),
    )


def _string(raw: dict[str, Any], key: str, where: str, allow_empty: bool = False) -> str:
    value = raw[key]
    if not isinstance(value, str) or not (allow_empty or value.strip()):
        raise ManifestError(f"{where}: {key} must be a {'' if allow_empty else 'non-empty '}string")
    return value


def _optional_string(
    raw: dict[str, Any], key: str, where: str, allow_empty: bool = False
) -> str | None:
    return None if raw.get(key) is None else _string(raw, key, where, allow_empty)


def _duration(raw: dict[str, Any], where: str) -> float:
    value = raw["duration"]
    if not _seconds(value) or value <= 0:
        raise ManifestError(f"{where}: duration must be a positive number of seconds")
    return float(value)


def _seconds(value: Any) -> bool:
    """A finite number: JSON's ``Infinity`` and ``NaN`` parse, but cut no clip."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _offset(raw: dict[str, Any], where: str) -> float | None:
    value = raw.get("offset")
    if value is None:
        return None
    if not _seconds(value) or value < 0:
        raise ManifestError(f"{where}: offset must be a number of seconds, 0 or more")
    return float(value)


def _pii(value: Any, where: str) -> tuple[PiiItem, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ManifestError(f"{where}: pii must be a list of {{type, text}} objects")
    items = []
    for item in value:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("type"), str)
            and isinstance(item.get("text"), str)
            and item["text"].strip()
        ):
            raise ManifestError(f"{where}: each pii item needs a string type and a non-empty text")
        items.append(PiiItem(item["type"], item["text"]))
    return tuple(items)


def load_entry(entry: ManifestEntry) -> tuple[Samples, int]:
    """The clip's samples: its whole file, or the part its ``offset`` and ``duration`` name."""
    samples, rate = load_audio(entry.path)
    if entry.offset is None:
        return samples, rate
    start = round(entry.offset * rate)
    if start >= len(samples):
        raise AudioLoadError(
            f"{entry.path}: offset {entry.offset:g} s is past the end ({len(samples) / rate:g} s)"
        )
    part = samples[start : start + round(entry.duration * rate)]
    if len(part) == 0:
        raise AudioLoadError(
            f"{entry.path}: the part of {entry.duration:g} s at {entry.offset:g} s holds no sample"
        )
    return part, rate


def load_audio(path: Path, max_duration_s: float = MAX_EVAL_SECONDS) -> tuple[Samples, int]:
    """Mono float32 samples and their rate, whatever the corpus format.

    WUW-II ``.ulaw`` files have no header (8 kHz mu-law by the corpus's definition);
    everything else goes through the same decoder as uploads, which also reads the
    FLAC files libsndfile rejects.
    """
    try:
        if path.suffix.lower() in ULAW_SUFFIXES:
            samples, rate = sf.read(
                path,
                samplerate=ULAW_RATE,
                channels=1,
                format="RAW",
                subtype="ULAW",
                dtype="float32",
            )
            decoded = np.ascontiguousarray(samples, dtype=np.float32), int(rate)
        else:
            data = path.read_bytes()
            limits = IngestLimits(max_audio_bytes=max(1, len(data)), max_duration_s=max_duration_s)
            audio = decode_audio(data, limits)
            decoded = audio.samples, audio.sample_rate
    except (AudioError, OSError, sf.LibsndfileError) as exc:
        raise AudioLoadError(f"{path}: {exc}") from exc
    if len(decoded[0]) == 0:
        raise AudioLoadError(f"{path}: no samples")
    return decoded
