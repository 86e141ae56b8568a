"""Dates an owner types, read the one way both the pages and the API read them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


class DateError(ValueError):
    """Not a date, or not a range that makes sense."""


def day_range(first: str, last: str) -> tuple[datetime, datetime]:
    """From the start of ``first`` up to the end of ``last`` (both YYYY-MM-DD, UTC)."""
    try:
        start, end = date.fromisoformat(first.strip()), date.fromisoformat(last.strip())
    except ValueError:
        raise DateError("give both dates as YYYY-MM-DD") from None
    if end < start:
        raise DateError("the first day must not come after the last day")
    return (
        datetime.combine(start, time(), UTC),
        datetime.combine(end + timedelta(days=1), time(), UTC),
    )
