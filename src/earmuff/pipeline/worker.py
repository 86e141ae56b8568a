"""The in-process pipeline of the embedded default: one background thread, one queue.

Recordings are processed one at a time (the models already use every core). On start,
everything left unfinished by a previous run is queued again: the runner resumes each
recording at the stage where it stopped, so nothing is lost and nothing done twice.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from earmuff.pipeline.runner import PipelineRunner, RecordingBusy

log = logging.getLogger(__name__)
_STOP = ""


class InProcessPipeline:
    def __init__(self, make_runner: Callable[[], PipelineRunner]) -> None:
        self._make_runner = make_runner
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._outstanding = 0
        self._changed = threading.Condition()

    def start(self) -> None:
        """Start the thread; it first takes up whatever a previous run left unfinished."""
        if self._thread is None:
            with self._changed:
                self._outstanding += 1
            self._thread = threading.Thread(target=self._work, name="earmuff-pipeline", daemon=True)
            self._thread.start()

    def submit(self, recording_id: str) -> None:
        with self._changed:
            self._outstanding += 1
        self._queue.put(recording_id)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every submitted recording has been processed."""
        with self._changed:
            return self._changed.wait_for(lambda: self._outstanding == 0, timeout)

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _work(self) -> None:
        runner = self._make_runner()
        for recording_id in runner.pending():
            self._run(runner, recording_id)
        self._done()
        while (recording_id := self._queue.get()) != _STOP:
            self._run(runner, recording_id)
            self._done()

    def _done(self) -> None:
        with self._changed:
            self._outstanding -= 1
            self._changed.notify_all()

    @staticmethod
    def _run(runner: PipelineRunner, recording_id: str) -> None:
        try:
            runner.run(recording_id)
        except RecordingBusy:
            log.info("recording %s is being processed by another worker", recording_id)
        except Exception:
            log.exception("the pipeline could not process recording %s", recording_id)
