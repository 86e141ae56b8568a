"""Jobs the server runs on a timer for as long as it lives (retention, for one).

A job runs in a worker thread, as it does blocking database and file work; a failure
is logged, never fatal, and the next tick tries again. On shutdown the loop stops at
once if idle, or after the run in progress, never in the middle of one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


async def every(
    interval_s: float, name: str, job: Callable[[], object], stop: asyncio.Event
) -> None:
    """Run ``job`` now and then every ``interval_s`` seconds, until ``stop`` is set."""
    while not stop.is_set():
        try:
            outcome = await asyncio.to_thread(job)
            log.info("%s: %s", name, outcome)
        except Exception:
            log.exception("%s failed; trying again in %s s", name, interval_s)
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
        except TimeoutError:
            continue
