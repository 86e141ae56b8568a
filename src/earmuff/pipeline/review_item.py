"""Stage: the review item, the only thing a reviewer ever receives.

It carries a random id, the audio its purpose calls for, the masked transcript, the
locale, a coarse duration, and the policy and model versions: no account, device,
name or capture time. A transcription task is served the anonymized and bleeped
recording; a task that needs only the words (intent and slots) is served the masked
transcript read by a fixed synthetic voice, or no audio, as the policy maps its
purpose: the speaker's voice, even disguised, then never reaches that reviewer.

The link back to the recording goes into the sealed vault alone. Consent is checked
once more, in the same transaction and under the account's lock, as it may have been
withdrawn while the recording was being processed; if it was, what was made for review
(transcript, disguised audio) is deleted.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from earmuff.config.policy import WorkbenchPolicy
from earmuff.pipeline.anonymize import REVIEW_AUDIO
from earmuff.pipeline.consent import consent_outcome
from earmuff.pipeline.redact import REDACTION
from earmuff.pipeline.sampling import sampling_score
from earmuff.pipeline.screen import SCREEN
from earmuff.pipeline.stage import Outcome, Work, artifact_key
from earmuff.store.consent import lock_account
from earmuff.store.crypto import KeyRing
from earmuff.store.models import Recording, utcnow
from earmuff.store.review_items import NewReviewItem, queue_tasks, write_review_audio
from earmuff.store.vault import deposit

OVERLAP_KEY_PURPOSE = "earmuff review overlap v1"
PURPOSE_KEY_PURPOSE = "earmuff review purpose v1"


def item_purpose(keyring: KeyRing, recording_id: str, policy: WorkbenchPolicy) -> str:
    """The task purpose a recording's review item is made for, by the policy's shares.

    A keyed hash of the recording decides (under a key of its own): a rerun of the
    stage makes the same choice, and nobody can steer a recording into the task that
    serves its voice.
    """
    score = sampling_score(keyring.master.derive(PURPOSE_KEY_PURPOSE), recording_id)
    return policy.purpose_for(score)


def served_audio(served: str, anonymized_wav: bytes, masked_text: str) -> bytes | None:
    """The audio a reviewer gets: the anonymized recording, the masked transcript read by
    the synthetic voice, or nothing. The anonymized recording is kept only when served."""
    if served == "anonymized_recording":
        return anonymized_wav
    if served == "synthetic_voice":
        from earmuff.speech.synthetic import synthetic_voice

        return synthetic_voice().read(masked_text).wav()
    return None


def review_copies(keyring: KeyRing, review_item_id: str, policy: WorkbenchPolicy) -> int:
    """How many reviewers hear the item: ``overlap_k`` for a share ``overlap_share`` of
    items, one for the rest.

    A keyed hash of the item id decides, like sampling does (under a key of its own):
    the choice can be recomputed and checked, and no one can steer an item into or out
    of the overlap set.
    """
    score = sampling_score(keyring.master.derive(OVERLAP_KEY_PURPOSE), review_item_id)
    return policy.overlap_k if score < policy.overlap_share else 1


class ReviewItemStage:
    name = "review_item"

    def __init__(self, model_versions: dict[str, Any]) -> None:
        self.model_versions = model_versions

    def _versions(self, served: str) -> dict[str, Any]:
        """The models that made what is served: the voice too, when one reads the text."""
        if served != "synthetic_voice":
            return self.model_versions
        from earmuff.speech.synthetic import SyntheticVoice

        return {**self.model_versions, "synthetic_voice": SyntheticVoice.name}

    def run(self, work: Work) -> Outcome:
        audio = work.load(REVIEW_AUDIO)
        redaction = json.loads(work.load(REDACTION) or b"null")
        screen = json.loads(work.load(SCREEN) or b"null")
        if audio is None or redaction is None or screen is None:
            raise LookupError("the anonymize, pii and screen stages must run first")
        store, facts, policy = work.store, work.facts, work.policy
        purpose = item_purpose(store.keyring, facts.id, policy.workbench)
        served = policy.workbench.purposes[purpose]
        item = write_review_audio(
            store.keyring,
            store.blobs,
            NewReviewItem(
                audio_wav=served_audio(served, audio, redaction["masked_text"]),
                purpose=purpose,
                served=served,
                masked_transcript=redaction["masked_text"],
                locale=facts.locale,
                duration_s=facts.duration_s,
                policy_version=policy.version,
                model_versions=self._versions(served),
                sensitive_category=screen["category"],
                expires_at=utcnow() + timedelta(days=policy.retention.review_items_days),
            ),
        )
        with store.db.transaction() as session:
            lock_account(session, facts.account_id)
            recording = session.get(Recording, facts.id)
            consent = consent_outcome(session, policy, facts.account_id, facts.device_id)
            if recording is None or recording.status == "in_review" or not consent.proceed:
                created = False
            else:
                session.add(item)
                session.flush()
                queue_tasks(session, item, review_copies(store.keyring, item.id, policy.workbench))
                deposit(session, store.keyring, item.id, facts.id, facts.account_id)
                recording.status = "in_review"
                created = True
        if not created:
            if item.audio_blob_key:
                store.blobs.delete(item.audio_blob_key)
            if not consent.proceed:
                for key in list(store.blobs.keys(prefix=artifact_key(facts.id, ""))):
                    store.blobs.delete(key)
                return Outcome.stop(f"withdrawn_before_review:{consent.decision}")
            return Outcome.go("already_queued")
        return Outcome.go("queued", sensitive=screen["category"] is not None)
