"""Stage: what was said, word by word with times. The transcript is sealed, never plain."""

from __future__ import annotations

import json

from earmuff.pipeline.stage import Outcome, Work
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
            record = {
                "model": heard.model,
                "text": heard.text,
                "words": [[w.text, w.start_s, w.end_s, w.probability] for w in heard.words],
            }
            work.save(TRANSCRIPT, json.dumps(record).encode())
        transcript = json.loads(work.load(TRANSCRIPT) or b"{}")
        return Outcome.go("transcribed", model=transcript["model"], words=len(transcript["words"]))
