"""Stage: find PII in the transcript, mask it there, and time it for the bleep.

The household's own names (the owner's first name, from the device's metadata) are
searched for whatever the language model thinks, and the wake words are never names.
The result, the masked text and the audio spans, is sealed like the transcript.
"""

from __future__ import annotations

import json
from collections import Counter

from earmuff.pii import PiiDetector, Transcript, Word, audio_spans, mask
from earmuff.pipeline.stage import Outcome, Work
from earmuff.pipeline.transcribe import TRANSCRIPT
from earmuff.store.accounts import first_name
from earmuff.store.models import Account

REDACTION = "redaction.json"


class PiiStage:
    name = "pii"

    def __init__(self, detector: PiiDetector, wake_words: tuple[str, ...] = ("alexa",)) -> None:
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
        redaction = {
            "masked_text": mask(transcript.text, findings),
            "spans": audio_spans(transcript, findings),
            "types": [f.type for f in findings],
        }
        work.save(REDACTION, json.dumps(redaction).encode())
        return Outcome.go("masked", found=dict(Counter(redaction["types"])))

    @staticmethod
    def _household_names(work: Work) -> list[str]:
        with work.store.db.read() as session:
            account = session.get(Account, work.facts.account_id)
            name = first_name(session, work.store.keyring, account) if account else None
        return [name] if name else []
