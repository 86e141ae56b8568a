"""Stage: find PII in the transcript, mask it there, and time it for the bleep.

The household's own names (the owner's first name, from the device's metadata) are
searched for whatever the language model thinks and however Whisper spells them (see
:mod:`earmuff.pii.names`), and the wake words are never names.
Speech the draft transcript had no word for (the transcribe stage's ``second_listen``
spans) is bleeped whatever the second listen made of it, and the masked text says where,
so that a reviewer knows why a tone sounds where no PII tag is (see
:mod:`earmuff.pipeline.untranscribed` for the figures behind this).
The result, the masked text and the audio spans, is sealed like the transcript.
"""

from __future__ import annotations

import json
from collections import Counter

from earmuff.pii import PiiDetector, Transcript, Word, audio_spans
from earmuff.pii.detector import WAKE_WORDS
from earmuff.pii.redact import mark_untranscribed
from earmuff.pipeline.stage import Outcome, Work
from earmuff.pipeline.transcribe import TRANSCRIPT
from earmuff.pipeline.untranscribed import UNTRANSCRIBED, widen
from earmuff.store.accounts import first_name
from earmuff.store.models import Account

REDACTION = "redaction.json"


class PiiStage:
    name = "pii"

    def __init__(self, detector: PiiDetector, wake_words: tuple[str, ...] = WAKE_WORDS) -> None:
        self.detector = detector
        self.wake_words = wake_words

    def run(self, work: Work) -> Outcome:
        raw = json.loads(work.load(TRANSCRIPT) or b"null")
        if raw is None:
            raise LookupError("the transcript is missing: run the transcribe stage first")
        transcript = Transcript.of([Word(text, start, end) for text, start, end, _ in raw["words"]])
        findings = self.detector.detect(
            transcript.text,
            known_names=self._household_names(work),
            wake_words=(*self.wake_words, work.facts.wake_word),
        )
        wanted = set(work.policy.pii.types)
        findings = [f for f in findings if f.type in wanted]
        untranscribed = _spans(raw.get("second_listen", []))
        found_spans = widen(audio_spans(transcript, findings), untranscribed)
        types = [f.type for f in findings]
        redaction = {
            "masked_text": mark_untranscribed(transcript, findings, untranscribed, UNTRANSCRIBED),
            "spans": [*found_spans, *untranscribed],
            "types": types,
            "untranscribed": len(untranscribed),
        }
        work.save(REDACTION, json.dumps(redaction).encode())
        return Outcome.go("masked", found=dict(Counter(types)), untranscribed=len(untranscribed))

    @staticmethod
    def _household_names(work: Work) -> list[str]:
        with work.store.db.read() as session:
            account = session.get(Account, work.facts.account_id)
            name = first_name(session, work.store.keyring, account) if account else None
        return [name] if name else []


def _spans(raw: list[list[float]]) -> list[tuple[float, float]]:
    return [(float(start), float(end)) for start, end in raw]
