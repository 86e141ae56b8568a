"""The pipeline as configured: its models, loaded once per process, and its stages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from earmuff.config import Policy
from earmuff.pii import PiiDetector
from earmuff.pipeline.anonymize import AnonymizeStage, anonymizer_for
from earmuff.pipeline.consent import ConsentStage
from earmuff.pipeline.redact import PiiStage
from earmuff.pipeline.review_item import ReviewItemStage
from earmuff.pipeline.runner import PipelineRunner, unfinished
from earmuff.pipeline.sampling import SamplingStage
from earmuff.pipeline.screen import ScreenStage
from earmuff.pipeline.stage import Outcome, Stage, Work
from earmuff.pipeline.transcribe import TranscribeStage
from earmuff.pipeline.wake import WakeStage
from earmuff.speech.asr import Transcriber, common_words
from earmuff.speech.wake import OpenWakeWordDetector, WakeRule, WakeVerifier
from earmuff.store import Store


@dataclass
class Models:
    """The heavy parts, each loaded on first use and then shared by every recording."""

    policy: Policy

    @cached_property
    def transcriber(self) -> Transcriber:
        return Transcriber(self.policy.asr.model, vad=self.policy.asr.vad)

    @cached_property
    def wake_transcriber(self) -> Transcriber:
        """The smallest model suffices to hear a wake word in three seconds."""
        if self.policy.asr.model == "tiny.en":
            return self.transcriber
        return Transcriber("tiny.en")

    @cached_property
    def wake_verifier(self) -> WakeVerifier:
        wake = self.policy.wake
        acoustic = OpenWakeWordDetector() if wake.use_openwakeword else None
        rule = WakeRule(wake.strong, wake.weak, wake.below_weak)
        return WakeVerifier(acoustic, self.wake_transcriber, rule)

    @cached_property
    def pii_detector(self) -> PiiDetector:
        return PiiDetector(self.policy.pii.types, common_words(self.policy.asr.model))

    def versions(self) -> dict[str, str]:
        return {
            "asr": self.transcriber.version,
            "pii": "presidio-analyzer 2.2.366 + en_core_web_sm 3.8.0 + earmuff recognizers",
            "anonymization": self.policy.anonymization.method,
        }


class DeferredStage:
    """A stage built when a recording first reaches it.

    Every recording reaches the wake check (a false wake is deleted whatever the
    household's consent), but most stop there or at sampling: a server must not load
    the transcription model, spaCy and Presidio at start, nor the wake models while its
    first uploads arrive: that took seconds of CPU from the uploads, and memory from a
    server that never needed them.
    """

    def __init__(self, name: str, build: Callable[[], Stage]) -> None:
        self.name = name
        self._build = build
        self._stage: Stage | None = None

    def run(self, work: Work) -> Outcome:
        if self._stage is None:
            self._stage = self._build()
        return self._stage.run(work)


def stages(models: Models) -> list[Stage]:
    policy = models.policy
    return [
        ConsentStage(),
        DeferredStage(WakeStage.name, lambda: WakeStage(models.wake_verifier)),
        SamplingStage(),
        DeferredStage(TranscribeStage.name, lambda: TranscribeStage(models.transcriber)),
        DeferredStage(PiiStage.name, lambda: PiiStage(models.pii_detector)),
        AnonymizeStage(anonymizer_for(policy.anonymization)),
        ScreenStage(),
        DeferredStage(ReviewItemStage.name, lambda: ReviewItemStage(models.versions())),
    ]


def build_runner(store: Store, models: Models | None = None) -> PipelineRunner:
    return PipelineRunner(store, stages(models or Models(store.settings.policy)))


def unfinished_recordings(store: Store) -> list[str]:
    """What the configured pipeline has yet to finish, found without loading a model."""
    return unfinished(store, ReviewItemStage.name)
