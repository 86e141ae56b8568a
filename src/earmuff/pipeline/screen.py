"""The sensitive-content screen: which review items need the safety-trained pool.

A lexicon of words and phrases per category, matched on word boundaries over the
transcript. It is deliberately a screen, not a judge: it errs towards flagging, and a
flagged item goes to reviewers who chose that work, behind a content warning. New
categories or terms plug in as data, without touching the matcher.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from earmuff.pipeline.stage import Outcome, Work
from earmuff.pipeline.transcribe import TRANSCRIPT

LEXICON: Mapping[str, tuple[str, ...]] = {
    "self_harm": (
        "kill myself",
        "killing myself",
        "end my life",
        "suicide",
        "suicidal",
        "want to die",
        "hurt myself",
        "cut myself",
        "overdose",
        "no reason to live",
    ),
    "child_in_distress": (
        "he hits me",
        "she hits me",
        "don't hit me",
        "daddy stop",
        "mommy stop",
        "mummy stop",
        "i'm scared",
        "please stop hurting",
        "help me please",
        "nobody feeds me",
        "locked in my room",
    ),
    "violence": (
        "kill you",
        "gonna kill",
        "going to kill",
        "beat you",
        "beat her",
        "beat him",
        "stab",
        "stabbed",
        "shoot",
        "shot him",
        "shot her",
        "gun",
        "knife",
        "punch",
        "strangle",
        "choke her",
        "choke him",
        "bleeding",
        "blood everywhere",
    ),
    "possible_crime": (
        "call the police",
        "call nine one one",
        "call 911",
        "robbery",
        "burglar",
        "break in",
        "broke in",
        "stolen",
        "steal",
        "drugs",
        "cocaine",
        "heroin",
        "meth",
        "hide the body",
        "ransom",
        "kidnap",
        "assault",
        "rape",
    ),
    "sexual_content": (
        "sex",
        "sexy",
        "naked",
        "nude",
        "porn",
        "orgasm",
        "condom",
        "horny",
    ),
    "medical": (
        "chest pain",
        "heart attack",
        "stroke",
        "can't breathe",
        "cannot breathe",
        "ambulance",
        "diagnosis",
        "diagnosed",
        "cancer",
        "chemotherapy",
        "hiv",
        "pregnant",
        "miscarriage",
        "prescription",
        "insulin",
        "seizure",
        "therapy",
        "antidepressant",
        "depression",
    ),
}
"""Ordered by severity: when several categories match, the first one names the item."""


@dataclass(frozen=True)
class ScreenResult:
    category: str | None
    matches: dict[str, int]

    @property
    def sensitive(self) -> bool:
        return self.category is not None


class SensitiveContentScreen:
    def __init__(self, lexicon: Mapping[str, Iterable[str]] = LEXICON) -> None:
        self._patterns = {
            category: re.compile(
                r"\b(?:"
                + "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
                + r")\b",
                re.IGNORECASE,
            )
            for category, terms in lexicon.items()
        }

    def screen(self, transcript: str) -> ScreenResult:
        text = _normalise(transcript)
        matches = {
            category: len(pattern.findall(text)) for category, pattern in self._patterns.items()
        }
        matches = {category: count for category, count in matches.items() if count}
        return ScreenResult(next(iter(matches), None), matches)


def _normalise(text: str) -> str:
    """Lower case, curly apostrophes straightened, runs of spaces collapsed."""
    return re.sub(r"\s+", " ", text.replace("\u2019", "'")).lower()


SCREEN = "screen.json"


class ScreenStage:
    """Stage: mark items for the safety-trained pool, with a content warning."""

    name = "screen"

    def __init__(self, screen: SensitiveContentScreen | None = None) -> None:
        self.screen = screen or SensitiveContentScreen()

    def run(self, work: Work) -> Outcome:
        transcript = json.loads(work.load(TRANSCRIPT) or b"null")
        if transcript is None:
            raise LookupError("the transcript is missing: run the transcribe stage first")
        result = self.screen.screen(transcript["text"])
        work.save(SCREEN, json.dumps({"category": result.category}).encode())
        return Outcome.go("sensitive" if result.sensitive else "ordinary", category=result.category)
