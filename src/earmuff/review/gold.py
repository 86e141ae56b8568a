"""Gold items: annotations a QA reviewer vouches for, against which others are graded.

A QA reviewer makes a checked submission the known answer of its item. From then on
the queue hands the item out now and then, as a gold task, to reviewers who were never
given it, and grades their transcript by its word error rate against the answer.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from earmuff.audit.log import record
from earmuff.review.agreement import transcript_wer
from earmuff.review.item_state import in_play
from earmuff.review.reviewer import Reviewer
from earmuff.store.crypto import KeyRing
from earmuff.store.db import Database
from earmuff.store.models import Annotation, GoldAnswer, ReviewItem
from earmuff.store.review_items import ANNOTATION_TEXT, GOLD_TEXT, open_item_text, seal_item_text

GOLD_MAKERS = ("qa_reviewer",)


class GoldRefused(ValueError):
    """An annotation that cannot become a gold answer."""


def make_gold(
    db: Database, keyring: KeyRing, qa_reviewer: Reviewer, annotation_id: str
) -> GoldAnswer:
    """Make a checked annotation the known answer of its item; audited. Making it again
    from another annotation replaces the answer."""
    if qa_reviewer.role not in GOLD_MAKERS:
        raise PermissionError("only a QA reviewer sets gold answers")
    reviewer_id = qa_reviewer.id
    with db.transaction() as session:
        annotation = session.get(Annotation, annotation_id)
        if annotation is None:
            raise LookupError(f"no annotation {annotation_id}")
        if annotation.outcome != "submitted" or annotation.transcript_sealed is None:
            raise GoldRefused("a skipped task has no answer to grade others by")
        if annotation.flags:
            raise GoldRefused("a flagged annotation is no answer to grade others by")
        item = session.get(
            ReviewItem, annotation.review_item_id, with_for_update={"key_share": True}
        )
        if item is None or not in_play(item):
            raise GoldRefused("the item is no longer in play")
        transcript = open_item_text(keyring, item, ANNOTATION_TEXT, annotation.transcript_sealed)
        gold = session.get(GoldAnswer, item.id) or GoldAnswer(review_item_id=item.id)
        gold.transcript_sealed = seal_item_text(keyring, item, GOLD_TEXT, transcript)
        gold.intent = annotation.intent
        gold.created_by_id = reviewer_id
        session.add(gold)
        session.flush()
        record(
            session,
            f"staff:{reviewer_id}",
            "review.gold_set",
            f"review_item:{item.id}",
            {"annotation": annotation.id},
        )
        return gold


def gold_wer(session: Session, keyring: KeyRing, item: ReviewItem, transcript: str) -> float | None:
    """The transcript's WER against the item's gold answer; None if it has none."""
    gold = session.get(GoldAnswer, item.id)
    if gold is None:
        return None
    return transcript_wer(
        open_item_text(keyring, item, GOLD_TEXT, gold.transcript_sealed), transcript
    )
