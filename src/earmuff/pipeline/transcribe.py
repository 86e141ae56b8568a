"""Stage: what was said, word by word with times. The transcript is sealed, never plain.

Voiced audio that the draft transcript has no word for is heard again alone; its spans
are kept as ``second_listen`` and its words join the transcript, so that the PII stage
finds what they name and bleeps those spans whatever it finds (see
:mod:`earmuff.pipeline.untranscribed`). ``untranscribed``: what even the second listen
left without a word.
"""

from __future__ import annotations

import json

from earmuff.pipeline.stage import Outcome, Work
from earmuff.pipeline.untranscribed import account_for_speech
from earmuff.speech.asr import Transcriber

TRANSCRIPT = "transcript.json"


class TranscribeStage:
    name = "transcribe"

    def __init__(self, transcriber: Transcriber) -> None:
        self.transcriber = transcriber

    def run(self, work: Work) -> Outcome:
        if work.load(TRANSCRIPT) is None:
            audio = work.audio
            heard = self.transcriber.transcribe(audio.samples, audio.sample_rate)
            accounted = account_for_speech(
                self.transcriber, audio.samples, audio.sample_rate, heard.words
            )
            record = {
                "model": heard.model,
                "text": " ".join(w.text.strip() for w in accounted.words if w.text.strip()),
                "words": [[w.text, w.start_s, w.end_s, w.probability] for w in accounted.words],
                "recovered_words": accounted.recovered,
                "second_listen": [list(span) for span in accounted.unheard],
                "untranscribed": [list(span) for span in accounted.unaccounted],
            }
            work.save(TRANSCRIPT, json.dumps(record).encode())
        transcript = json.loads(work.load(TRANSCRIPT) or b"{}")
        return Outcome.go(
            "transcribed",
            model=transcript["model"],
            words=len(transcript["words"]),
            recovered_words=transcript.get("recovered_words", 0),
            untranscribed_spans=len(transcript.get("untranscribed", [])),
        )
