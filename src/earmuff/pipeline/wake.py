"""Stage: did the recording really open with its wake word? A false wake is deleted now.

The device thought it heard the wake word; a recording that does not start with it
was made without anyone asking, and nobody may hear it. Its audio, its key and any
derived artifact go at once; a tombstone without content stays for the owner to see
("discarded: no wake word") until the policy's tombstone deadline.

Every recording is checked, whether or not its household allowed review: a false wake
is deleted for everyone. A true wake that the consent stage did not admit for review
ends its journey here, kept for the service and never sampled.
"""

from __future__ import annotations

from datetime import timedelta

from earmuff.pipeline.consent import admitted_for_review
from earmuff.pipeline.stage import Outcome, Work, artifact_key
from earmuff.speech.wake import WakeVerifier
from earmuff.store.models import Recording, utcnow


class WakeStage:
    name = "wake"

    def __init__(self, verifier: WakeVerifier) -> None:
        self.verifier = verifier

    def run(self, work: Work) -> Outcome:
        audio = work.audio
        head = audio.samples[: round(work.policy.wake.check_seconds * audio.sample_rate)]
        verdict = self.verifier.verify(head, audio.sample_rate, work.facts.wake_word)
        scores = {score.detector: round(score.score, 4) for score in verdict.scores}
        if verdict.is_wake:
            return wake_confirmed(work, scores=scores)
        discard_false_wake(work)
        return Outcome.stop("false_wake", scores=scores)


def wake_confirmed(work: Work, **detail: object) -> Outcome:
    """A true wake goes on towards review only if the consent stage admitted it; one it
    did not admit is kept for the service and goes no further."""
    with work.store.db.read() as session:
        admitted = admitted_for_review(session, work.facts.id)
    if not admitted:
        return Outcome.stop("wake_confirmed", review="not_admitted", **detail)
    return Outcome.go("wake_confirmed", **detail)


def discard_false_wake(work: Work) -> None:
    """Delete audio, key and artifacts; keep a contentless tombstone for the owner."""
    store, facts = work.store, work.facts
    tombstone_days = work.policy.retention.false_wake_tombstones_days
    with store.db.transaction() as session:
        recording = session.get(Recording, facts.id)
        if recording is None:
            return
        recording.key_sealed = None
        recording.blob_key = None
        recording.status = "discarded"
        recording.retention_until = utcnow() + timedelta(days=tombstone_days)
    if facts.blob_key is not None:
        store.blobs.delete(facts.blob_key)
    for key in list(store.blobs.keys(prefix=artifact_key(facts.id, ""))):
        store.blobs.delete(key)
