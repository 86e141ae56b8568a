"""The distributed engine: Celery tasks over Redis or RabbitMQ, one task per recording.

The task is a thin shell around the same ``PipelineRunner`` the in-process engine uses;
stages know nothing of it. What makes it safe to run on many machines:

- Only the recording id crosses the broker, as JSON. The broker sits outside the
  encrypted store, so audio, names and transcripts never travel through it.
- A message is acknowledged only after its recording's run (``acks_late``), and a
  worker process that dies mid-recording has it requeued (``reject_on_worker_lost``);
  a dead machine's messages come back from the broker (RabbitMQ at once, Redis after
  ``EARMUFF_BROKER_VISIBILITY_TIMEOUT_S``). The runner's recorded outcomes make the
  retry resume where the dead worker stopped.
- A duplicate delivery finds the recording claimed (see ``store/claims.py``) and comes
  back later, by when the claim's holder has finished and nothing is left to do.
- Each worker process opens its own database connections and loads its own models on
  its first recording, and keeps them for every recording after.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
from collections.abc import Callable
from typing import Any

from celery import Celery, Task
from kombu.exceptions import OperationalError

from earmuff.config import Settings
from earmuff.config.settings import SettingsError
from earmuff.pipeline.build import build_runner, unfinished_recordings
from earmuff.pipeline.runner import PipelineRunner, RecordingBusy
from earmuff.store import Store, open_store

log = logging.getLogger(__name__)

TASK_NAME = "earmuff.pipeline.run_recording"
BUSY_RETRY_S = 15.0
"""How long a duplicate delivery waits before it looks again at a claimed recording."""
_RECORDING_ID = re.compile(r"[0-9a-f]{32}")
_PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5}
"""Bounded, so an unreachable broker delays an upload by a second or two, not forever."""

MakeRunner = Callable[[Store], PipelineRunner]


def celery_app(settings: Settings) -> Celery:
    """The Celery app as both sides need it: the broker, JSON only, no result backend."""
    if settings.broker_url is None:
        raise SettingsError(
            "EARMUFF_BROKER_URL is not set: without a broker the pipeline runs in-process"
        )
    app = Celery("earmuff", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_default_queue=settings.pipeline_queue,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_connection_retry_on_startup=True,
        broker_transport_options=_transport_options(settings),
    )
    return app


def _transport_options(settings: Settings) -> dict[str, Any]:
    """On Redis: how soon a dead worker's recordings return, and keys namespaced by queue.

    Redis restores an unacknowledged message once it is older than the visibility
    timeout, sweeping at a quarter of it (at most every 10 s). The prefix keeps
    deployments (and test runs) that share a Redis from restoring each other's messages.
    """
    if settings.broker_url is None or not settings.broker_url.startswith("redis"):
        return {}
    timeout = settings.broker_visibility_timeout_s
    return {
        "visibility_timeout": timeout,
        "unacked_restore_interval": min(10.0, max(0.5, timeout / 4)),
        "unacked_restore_throttle": 1,
        "global_keyprefix": f"{settings.pipeline_queue}:",
    }


class BrokerPipeline:
    """The server's side: the id of each stored recording goes to the broker.

    An upload is answered once its recording is stored, broker or no broker: if the
    broker cannot be reached, the recording stays unfinished, and the next server start
    enqueues it again (as does ``start`` for anything a previous run left behind).
    """

    def __init__(self, store: Store, app: Celery | None = None) -> None:
        self._store = store
        self._app = app or celery_app(store.settings)

    def start(self) -> None:
        for recording_id in unfinished_recordings(self._store):
            if not self._publish(recording_id):
                return

    def submit(self, recording_id: str) -> None:
        self._publish(recording_id)

    def stop(self) -> None:
        self._app.close()

    def _publish(self, recording_id: str) -> bool:
        try:
            self._app.send_task(
                TASK_NAME, args=[recording_id], retry=True, retry_policy=_PUBLISH_RETRY
            )
        except (OperationalError, OSError) as exc:
            log.warning(
                "recording %s is stored but the broker is unreachable (%s): it will be "
                "enqueued when the server next starts, or run `earmuff pipeline run`",
                recording_id,
                type(exc).__name__,
            )
            return False
        return True


class _ProcessRunner:
    """The runner of one worker process, built on its first recording.

    Pool processes are forked from a parent that never builds it, so each opens its own
    database connections and loads its own models, once.
    """

    def __init__(self, settings: Settings, make_runner: MakeRunner) -> None:
        self._settings = settings
        self._make_runner = make_runner
        self._runner: PipelineRunner | None = None
        self._building = threading.Lock()

    @property
    def runner(self) -> PipelineRunner:
        with self._building:
            if self._runner is None:
                self._runner = self._make_runner(open_store(self._settings, migrate=False))
            return self._runner


def worker_app(
    settings: Settings,
    make_runner: MakeRunner = build_runner,
    busy_retry_s: float = BUSY_RETRY_S,
) -> Celery:
    """The worker's app: ``celery_app`` plus the one task, running ``make_runner``'s runner."""
    app = celery_app(settings)
    process = _ProcessRunner(settings, make_runner)

    @app.task(name=TASK_NAME, bind=True, shared=False, max_retries=None)
    def run_recording(task: Task[Any, None], recording_id: object) -> None:
        if not isinstance(recording_id, str) or not _RECORDING_ID.fullmatch(recording_id):
            log.error("dropped a message that names no recording")
            return
        try:
            reports = process.runner.run(recording_id)
        except RecordingBusy:
            raise task.retry(countdown=busy_retry_s) from None
        except KeyError:
            log.warning("recording %s no longer exists", recording_id)
            return
        steps = ", ".join(f"{report.stage}: {report.decision}" for report in reports)
        log.info("recording %s  %s", recording_id, steps)

    return app


def run_worker(app: Celery, concurrency: int = 1, hostname: str | None = None) -> int:
    """Run a worker of ``concurrency`` processes until it is told to stop; its exit code.

    ``fair`` hands a recording only to an idle process, so one slow recording does not
    hold back the ones queued behind it; mingle and gossip are off, as the pipeline
    never uses what workers would tell each other.
    """
    worker = app.Worker(
        hostname=hostname or f"earmuff-{os.getpid()}@{socket.gethostname()}",
        concurrency=concurrency,
        pool_cls="prefork",
        loglevel="INFO",
        optimization="fair",
        without_mingle=True,
        without_gossip=True,
    )
    worker.start()
    return int(worker.exitcode or 0)
