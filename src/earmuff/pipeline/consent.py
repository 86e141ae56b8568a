"""Stage: may people listen to this recording at all?

Under ``opt-in`` (the default) only an explicit yes admits a recording to sampling;
under ``opt-out`` anything but an explicit no does. A child's profile, on the account
or on the device, is never reviewed whatever the setting. A recording that is not
admitted stays stored for the service, per retention, and is never sampled. An upload
records this stage's outcome as it is stored (see ``Ingestor``); the stage decides for
recordings that arrived otherwise. The same check runs again just before a review item
is made, as consent may be withdrawn meanwhile.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from earmuff.config import Policy
from earmuff.pipeline.stage import Outcome, Work
from earmuff.store.models import Account, ConsentSetting, Device


def consent_outcome(session: Session, policy: Policy, account_id: str, device_id: str) -> Outcome:
    account = session.get(Account, account_id)
    device = session.get(Device, device_id)
    setting = session.get(ConsentSetting, account_id)
    if account is None or device is None or account.deleted_at is not None:
        return Outcome.stop("account_gone")
    return decide_consent(
        policy,
        child_profile=account.is_child_profile or device.is_child_profile,
        choice=setting.human_review if setting else "unset",
        disclosure_version=setting.disclosure_version if setting else None,
    )


def decide_consent(
    policy: Policy, *, child_profile: bool, choice: str, disclosure_version: str | None
) -> Outcome:
    """The rule itself, on facts read by the stage or by the upload that stores a recording.

    Ingestion decides it in the transaction that stores the recording, so a recording
    is judged by the consent in force when it arrived: a yes given later does not admit
    what was recorded before it.
    """
    if child_profile:
        return Outcome.stop("child_profile")
    mode = policy.review.consent
    if mode == "opt-in" and choice != "granted":
        return Outcome.stop("no_consent", mode=mode, choice=choice)
    if mode == "opt-out" and choice == "withdrawn":
        return Outcome.stop("opted_out", mode=mode, choice=choice)
    return Outcome.go("consented", mode=mode, choice=choice, disclosure_version=disclosure_version)


class ConsentStage:
    name = "consent"

    def run(self, work: Work) -> Outcome:
        with work.store.db.read() as session:
            return consent_outcome(
                session, work.policy, work.facts.account_id, work.facts.device_id
            )
