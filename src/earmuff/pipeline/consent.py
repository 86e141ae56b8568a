"""Stage: may people listen to this recording at all?

Under ``opt-in`` (the default) only an explicit yes admits a recording to sampling;
under ``opt-out`` anything but an explicit no does. A child's profile, on the account
or on the device, is never reviewed whatever the setting. An upload records this
stage's outcome as it is stored (see ``Ingestor``); the stage decides for recordings
that arrived otherwise. The same check runs again just before a review item is made,
as consent may be withdrawn meanwhile.

The stage decides admission but does not end the journey of a recording it does not
admit: every recording still gets the wake check, because a false wake (made without
anyone asking) must be deleted whatever the household chose about review, and a
household that never allowed review is the last that should keep one. The wake stage
ends the journey of a recording not admitted here (see :func:`admitted_for_review`),
so it is kept for the service, per retention, and never sampled, transcribed for
review or reviewed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from earmuff.config import Policy
from earmuff.pipeline.stage import Outcome, Work
from earmuff.store.models import Account, ConsentSetting, Device, RecordingStage

STAGE = "consent"


def consent_outcome(session: Session, policy: Policy, account_id: str, device_id: str) -> Outcome:
    """Whether review is allowed now: ``proceed`` only for an admitted recording (the
    check made again before a review item is made)."""
    account = session.get(Account, account_id)
    device = session.get(Device, device_id)
    setting = session.get(ConsentSetting, account_id)
    if account is None or device is None or account.deleted_at is not None:
        return Outcome.stop("account_gone")
    return review_admission(
        policy,
        child_profile=account.is_child_profile or device.is_child_profile,
        choice=setting.human_review if setting else "unset",
        disclosure_version=setting.disclosure_version if setting else None,
    )


def decide_consent(
    policy: Policy, *, child_profile: bool, choice: str, disclosure_version: str | None
) -> Outcome:
    """The stage's outcome, on facts read by the stage or by the upload that stores a
    recording: always onward to the wake check, with ``admitted`` saying whether review
    may follow.

    Ingestion decides it in the transaction that stores the recording, so a recording
    is judged by the consent in force when it arrived: a yes given later does not admit
    what was recorded before it.
    """
    admission = review_admission(
        policy, child_profile=child_profile, choice=choice, disclosure_version=disclosure_version
    )
    return onward(admission)


def onward(admission: Outcome) -> Outcome:
    """An admission decision as the stage records it: never the end of the journey."""
    return Outcome.go(admission.decision, admitted=admission.proceed, **admission.detail)


def admitted_for_review(session: Session, recording_id: str) -> bool:
    """Whether this stage admitted the recording, as recorded: only an explicit
    admission counts, so a recording with no recorded decision is never reviewed."""
    row = session.get(RecordingStage, (recording_id, STAGE))
    if row is None or row.status != "done":
        return False
    return row.detail.get("admitted", row.detail.get("decision") == "consented") is True


def review_admission(
    policy: Policy, *, child_profile: bool, choice: str, disclosure_version: str | None
) -> Outcome:
    """The rule itself: ``proceed`` only when people may listen."""
    if child_profile:
        return Outcome.stop("child_profile")
    mode = policy.review.consent
    if mode == "opt-in" and choice != "granted":
        return Outcome.stop("no_consent", mode=mode, choice=choice)
    if mode == "opt-out" and choice == "withdrawn":
        return Outcome.stop("opted_out", mode=mode, choice=choice)
    return Outcome.go("consented", mode=mode, choice=choice, disclosure_version=disclosure_version)


class ConsentStage:
    name = STAGE

    def run(self, work: Work) -> Outcome:
        with work.store.db.read() as session:
            admission = consent_outcome(
                session, work.policy, work.facts.account_id, work.facts.device_id
            )
        if admission.decision == "account_gone":
            return admission
        return onward(admission)
