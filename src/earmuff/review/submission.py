"""What a reviewer may submit about an item, checked against the deployment's schema.

The intents and slots come from the policy (``WorkbenchPolicy``), the flags and skip
reasons are fixed here, and a ``sensitive`` flag names one of the screen's categories:
fixed lists keep the figures a QA reviewer or a safety officer reads countable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from earmuff.config.policy import WorkbenchPolicy
from earmuff.pipeline.screen import LEXICON

FLAGS = (
    "no_wake_word",
    "unintelligible",
    "not_for_this_locale",
    "pii_leak",
    "sensitive",
    "possible_crime",
    "someone_in_danger",
)
EXPLAINS_EMPTY_TRANSCRIPT = frozenset({"no_wake_word", "unintelligible", "not_for_this_locale"})
URGENCY = ("someone_in_danger", "possible_crime", "sensitive")
"""Escalating flags, most urgent first: a submission with several opens one case, for
the most urgent."""
SKIP_REASONS = ("no_audio", "wrong_language", "too_distressing", "technical_problem", "other")
MAX_TRANSCRIPT_CHARS = 2000
MAX_SLOT_CHARS = 200


class InvalidSubmission(ValueError):
    """A submission or skip the schema does not allow; ``field`` names the part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Submission:
    """What a reviewer made of the item they hold."""

    transcript: str
    intent: str | None = None
    slots: Mapping[str, str] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    sensitive_category: str | None = None


def validated(submission: Submission, policy: WorkbenchPolicy) -> str:
    """The transcript to keep, once every part of the submission fits the schema."""
    transcript = submission.transcript.strip()
    if len(transcript) > MAX_TRANSCRIPT_CHARS:
        raise InvalidSubmission(
            "transcript", f"a transcript is at most {MAX_TRANSCRIPT_CHARS} characters"
        )
    if any(ch != "\n" and (ord(ch) < 32 or ord(ch) == 127) for ch in transcript):
        raise InvalidSubmission("transcript", "the transcript holds control characters")
    unknown = [flag for flag in submission.flags if flag not in FLAGS]
    if unknown:
        raise InvalidSubmission(
            "flags", f"unknown flag {unknown[0]!r}; flags are {', '.join(FLAGS)}"
        )
    flags = set(submission.flags)
    if not transcript and not flags & EXPLAINS_EMPTY_TRANSCRIPT:
        raise InvalidSubmission(
            "transcript",
            "write what was said, or flag no wake word, unintelligible or not for this locale",
        )
    if submission.intent is not None and submission.intent not in policy.intents:
        raise InvalidSubmission(
            "intent",
            f"unknown intent {submission.intent!r}; intents are {', '.join(policy.intents)}",
        )
    for name, value in submission.slots.items():
        if name not in policy.slots:
            raise InvalidSubmission(
                "slots", f"unknown slot {name!r}; slots are {', '.join(policy.slots)}"
            )
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_SLOT_CHARS:
            raise InvalidSubmission(
                "slots", f"slot {name!r} needs a value of 1 to {MAX_SLOT_CHARS} characters"
            )
    category = submission.sensitive_category
    if "sensitive" in flags:
        if category not in LEXICON:
            raise InvalidSubmission(
                "sensitive_category",
                f"the sensitive flag needs a category, one of {', '.join(LEXICON)}",
            )
    elif category is not None:
        raise InvalidSubmission("sensitive_category", "a category goes with the sensitive flag")
    return transcript


def check_skip_reason(reason: str) -> None:
    if reason not in SKIP_REASONS:
        raise InvalidSubmission("reason", f"a skip reason is one of {', '.join(SKIP_REASONS)}")


def flag_details(submission: Submission) -> dict[str, Any]:
    """The flags as stored: each flag's detail, the category for ``sensitive``."""
    return {
        flag: submission.sensitive_category if flag == "sensitive" else True
        for flag in FLAGS
        if flag in submission.flags
    }
