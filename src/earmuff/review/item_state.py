"""Whether a review item is still in play, in one place for every module that asks.

An item leaves play when a reviewer reports that masking missed something (``pulled``),
when it is escalated to the safety officers (``escalated``), or when retention or the
owner's request destroys it (``deleted``, its key gone). Nothing outside the safety
console may hear, show or export it after that.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_

from earmuff.store.models import ReviewItem

OUT_OF_PLAY = ("pulled", "escalated", "deleted", "withdrawn")


def in_play(item: ReviewItem) -> bool:
    return item.status not in OUT_OF_PLAY and item.key_sealed is not None


def in_play_clause() -> ColumnElement[bool]:
    """The same test as :func:`in_play`, for a query joined to ``review_items``."""
    return and_(ReviewItem.status.not_in(OUT_OF_PLAY), ReviewItem.key_sealed.is_not(None))
