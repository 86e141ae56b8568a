"""A small world for the owner's side: households, a pipeline that decides without models,
and reviewers who take and finish work the way the workbench does.

The stages after consent and sampling are scripted (a recording is a false wake when the
test says so; its transcript is the text the test gave), so the tests exercise every
owner-side rule against real rows, blobs, keys and vault entries in seconds.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from earmuff.audio import encode_wav
from earmuff.config import Policy
from earmuff.config.policy import ReviewPolicy
from earmuff.owner import consent as consent_service
from earmuff.owner.disclosure import Disclosures
from earmuff.pipeline.anonymize import REVIEW_AUDIO
from earmuff.pipeline.consent import ConsentStage
from earmuff.pipeline.ingest import Ingestor
from earmuff.pipeline.redact import REDACTION
from earmuff.pipeline.review_item import ReviewItemStage
from earmuff.pipeline.runner import PipelineRunner, StageReport
from earmuff.pipeline.sampling import SamplingStage
from earmuff.pipeline.screen import SCREEN
from earmuff.pipeline.stage import Outcome, Stage, Work
from earmuff.pipeline.transcribe import TRANSCRIPT
from earmuff.pipeline.wake import discard_false_wake, wake_confirmed
from earmuff.review.queue import Lease, Reviewer, Submission, next_task, submit
from earmuff.store import Store
from earmuff.store.accounts import register_device
from earmuff.store.models import (
    StaffUser,
    new_id,
    utcnow,
)
from tests.audio_samples import wav

DEFAULT_TEXT = "alexa play the morning news for jane"


class ScriptedWake:
    name = "wake"

    def __init__(self, false_wakes: set[str]) -> None:
        self.false_wakes = false_wakes

    def run(self, work: Work) -> Outcome:
        if work.facts.id in self.false_wakes:
            discard_false_wake(work)
            return Outcome.stop("false_wake", scores={})
        return wake_confirmed(work, scores={})


class ScriptedTranscribe:
    name = "transcribe"

    def __init__(self, texts: dict[str, str]) -> None:
        self.texts = texts

    def run(self, work: Work) -> Outcome:
        text = self.texts.get(work.facts.id, DEFAULT_TEXT)
        words = [[w, i * 0.3, i * 0.3 + 0.25, 0.9] for i, w in enumerate(text.split())]
        work.save(
            TRANSCRIPT, json.dumps({"model": "scripted", "text": text, "words": words}).encode()
        )
        return Outcome.go("transcribed", model="scripted", words=len(words))


class ScriptedPii:
    """Masks the household's name, as the real stage would."""

    name = "pii"

    def run(self, work: Work) -> Outcome:
        text = json.loads(work.load(TRANSCRIPT) or b"{}")["text"]
        masked = " ".join("[PERSON]" if w == "jane" else w for w in text.split())
        types = ["PERSON"] if "jane" in text.split() else []
        redaction = {"masked_text": masked, "spans": [], "types": types}
        work.save(REDACTION, json.dumps(redaction).encode())
        return Outcome.go("masked", found={t: 1 for t in types})


class ScriptedAnonymize:
    """Reverses the audio: not private, but a different signal, which is all the tests need."""

    name = "anonymize"

    def run(self, work: Work) -> Outcome:
        audio = work.audio
        work.save(
            REVIEW_AUDIO, encode_wav(np.ascontiguousarray(audio.samples[::-1]), audio.sample_rate)
        )
        return Outcome.go("anonymized", method="scripted", bleeped_spans=0)


class ScriptedScreen:
    name = "screen"

    def run(self, work: Work) -> Outcome:
        work.save(SCREEN, json.dumps({"category": None}).encode())
        return Outcome.go("ordinary", category=None)


class Home:
    """One household with one device, uploading through the real ingest code."""

    def __init__(self, world: World, external_id: str, serial: str, name: str = "Jane") -> None:
        self.world = world
        self.external_id = external_id
        self.serial = serial
        self.name = name
        with world.store.db.transaction() as session:
            device, self.token = register_device(
                session, world.store.keyring, external_id, name, serial
            )
            self.account_id = device.account_id
            self.device_id = device.id
        self._count = 0

    def upload(
        self,
        captured_at: datetime | None = None,
        audio: bytes | None = None,
        text: str | None = None,
        false_wake: bool = False,
    ) -> str:
        self._count += 1
        when = captured_at or datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
        metadata = {
            "account_id": self.external_id,
            "first_name": self.name,
            "device_serial": self.serial,
            "captured_at": when.isoformat(),
            "locale": "en-US",
            "wake_word": "alexa",
            "device_recording_id": f"{self.serial}-{self._count}",
        }
        store = self.world.store
        ingestor = Ingestor(store.settings, store.db, store.blobs, store.keyring)
        body = audio if audio is not None else wav(0.5, seed=self._count + 100 * len(self.serial))
        result = ingestor.ingest(
            ingestor.authenticate(self.token), json.dumps(metadata).encode(), body
        )
        recording_id = str(result.body["recording_id"])
        if text is not None:
            self.world.texts[recording_id] = text
        if false_wake:
            self.world.false_wakes.add(recording_id)
        return recording_id

    def allow(self) -> None:
        shown = Disclosures().current(self.world.store.settings.policy)
        consent_service.grant(self.world.store, self.account_id, "test", shown)

    def stop(self) -> consent_service.ConsentResult:
        return consent_service.withdraw(self.world.store, self.account_id, "test", None)


class World:
    def __init__(self, store: Store) -> None:
        store.settings = dataclasses.replace(
            store.settings,
            policy=Policy(
                version="test-1",
                review=ReviewPolicy(sampling_rate=1.0, per_account_cap_30d=10_000),
            ),
        )
        self.store = store
        self.false_wakes: set[str] = set()
        self.texts: dict[str, str] = {}
        stages: list[Stage] = [
            ConsentStage(),
            ScriptedWake(self.false_wakes),
            SamplingStage(),
            ScriptedTranscribe(self.texts),
            ScriptedPii(),
            ScriptedAnonymize(),
            ScriptedScreen(),
            ReviewItemStage({"asr": "scripted"}),
        ]
        self.runner = PipelineRunner(store, stages)
        self._homes = 0

    def home(self, external_id: str | None = None, name: str = "Jane") -> Home:
        self._homes += 1
        return Home(self, external_id or f"ACC-{self._homes}", f"SN-{self._homes}", name)

    def run(self, recording_id: str) -> list[StageReport]:
        return self.runner.run(recording_id)

    def run_all(self) -> None:
        self.runner.run_pending()

    def staff(self, role: str = "annotator") -> StaffUser:
        user = StaffUser(
            id=new_id(),
            username=f"{role}-{new_id()[:6]}",
            password_hash="-",
            role=role,
            locales="en-US",
            safety_pool=True,
        )
        with self.store.db.transaction() as session:
            session.add(user)
        return user

    def hand_out(self, reviewer: StaffUser, now: datetime | None = None) -> Lease | None:
        """What the workbench's "next task" gives ``reviewer``: the lease they hold, or
        a new one (``review.queue.next_task``)."""
        policy = self.store.settings.policy.workbench
        return next_task(self.store.db, Reviewer.of(reviewer), policy, now or utcnow())

    def annotate(
        self,
        lease: Lease,
        reviewer: StaffUser,
        transcript: str = "alexa play the morning news for [PERSON]",
        intent: str = "play_music",
        at: datetime | None = None,
    ) -> str:
        """The reviewer submits the task they hold, as the workbench's form does."""
        annotation = submit(
            self.store.db,
            self.store.keyring,
            Reviewer.of(reviewer),
            lease.lease_id,
            Submission(transcript=transcript, intent=intent, slots={"song": "morning news"}),
            self.store.settings.policy.workbench,
            at or utcnow(),
        )
        return annotation.id


@pytest.fixture
def world(store: Store) -> Iterator[World]:
    yield World(store)
