"""What every evaluation writes: rates as fractions, one JSON file, a few printed lines.

Rates are fractions (0..1) in the JSON so that tools can compare them without parsing
units; only the human summary shows percentages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from earmuff import __version__ as earmuff_version

Progress = Callable[[], None]
"""Called once per clip done, so a command line can draw a progress bar."""


def fraction(count: int, total: int) -> float | None:
    """``count / total``; None (JSON null) when there is nothing to divide by."""
    return count / total if total else None


def real_time_factor(seconds: float, audio_seconds: float) -> float | None:
    """Processing seconds per second of audio: below 1 keeps up with live speech."""
    return round(seconds / audio_seconds, 5) if audio_seconds else None


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def run_header(task: str, manifest: Path, root: Path, options: dict[str, Any]) -> dict[str, Any]:
    """Enough to reproduce a run: what was measured, on which data, with which settings."""
    return {
        "task": task,
        "manifest": str(manifest),
        "root": str(root),
        "options": options,
        "earmuff_version": earmuff_version,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def write_json(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


class Stopwatch:
    """Processing seconds summed over many timed sections (model calls, not file reads)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    @contextmanager
    def timing(self) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - started
