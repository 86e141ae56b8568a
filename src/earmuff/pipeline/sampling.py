"""Stage: is this recording one of the few that people hear?

The decision is a keyed hash of the recording id, not a random draw: anyone holding the
sampling key can recompute every decision and check that nothing was hand-picked, and
running the stage again decides the same. Each locale may have its own rate
(stratification: a small locale can be sampled densely enough to be useful), and no
account contributes more than the policy's cap in any 30 days.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy import func, select

from earmuff.pipeline.consent import admitted_for_review
from earmuff.pipeline.stage import Outcome, Work
from earmuff.store.models import Account, Recording, utcnow

SAMPLING_KEY_PURPOSE = "earmuff sampling v1"
CAP_WINDOW = timedelta(days=30)


def sampling_score(key: bytes, recording_id: str) -> float:
    """A number in [0, 1), uniform over recordings, fixed for a given key and recording."""
    digest = hmac.new(key, recording_id.encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class SamplingStage:
    name = "sample"

    def run(self, work: Work) -> Outcome:
        facts = work.facts
        with work.store.db.read() as session:
            if not admitted_for_review(session, facts.id):
                # The wake stage stops such a recording already; this keeps the promise
                # in a pipeline assembled without it.
                return Outcome.stop("not_admitted")
        review = work.policy.review
        rate = review.rate_for(facts.locale)
        key = work.store.keyring.master.derive(SAMPLING_KEY_PURPOSE)
        score = sampling_score(key, facts.id)
        detail = {"score": round(score, 8), "rate": rate, "locale": facts.locale}
        if score >= rate:
            return Outcome.stop("not_sampled", **detail)
        with work.store.db.transaction() as session:
            session.execute(  # serialises cap counting per account (a no-op lock on SQLite)
                select(Account.id).where(Account.id == facts.account_id).with_for_update()
            )
            recording = session.get(Recording, facts.id)
            if recording is None:
                return Outcome.stop("recording_gone", **detail)
            if recording.sampled_at is not None:
                return Outcome.go("sampled", **detail)
            now = utcnow()
            recent = session.scalar(
                select(func.count())
                .select_from(Recording)
                .where(
                    Recording.account_id == facts.account_id,
                    Recording.sampled_at >= now - CAP_WINDOW,
                )
            )
            detail |= {"cap": review.per_account_cap_30d, "sampled_in_30_days": recent}
            if (recent or 0) >= review.per_account_cap_30d:
                return Outcome.stop("account_cap_reached", **detail)
            recording.sampled_at = now
        return Outcome.go("sampled", **detail)
