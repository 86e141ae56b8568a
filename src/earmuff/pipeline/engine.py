"""What a server needs of a pipeline engine, and which engine the settings choose."""

from __future__ import annotations

from typing import Protocol

from earmuff.store import Store


class PipelineEngine(Protocol):
    def start(self) -> None:
        """Begin, taking up whatever a previous run left unfinished."""
        ...

    def submit(self, recording_id: str) -> None:
        """Hand over a newly stored recording; must not fail the upload that stored it."""
        ...

    def stop(self) -> None: ...


def engine_for(store: Store) -> PipelineEngine:
    """The broker's when ``EARMUFF_BROKER_URL`` is set, else a thread of this process.

    Each engine is imported only when chosen: a server without a broker never imports
    Celery, and one with a broker never loads a model.
    """
    if store.settings.broker_url:
        from earmuff.pipeline.distributed import BrokerPipeline

        return BrokerPipeline(store)
    from earmuff.pipeline.build import build_runner
    from earmuff.pipeline.worker import InProcessPipeline

    return InProcessPipeline(lambda: build_runner(store))
