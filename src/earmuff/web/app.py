"""The FastAPI application, built from settings; the configured app is the only shared state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from earmuff import __version__
from earmuff.audit.checkpoints import Checkpointer
from earmuff.audit.misuse import periodic_scan
from earmuff.audit.policy import note_policy
from earmuff.config import Settings
from earmuff.owner.retention import run_retention
from earmuff.pipeline.engine import PipelineEngine
from earmuff.pipeline.ingest import Ingestor, RecordingMetadata
from earmuff.store import Store, open_store
from earmuff.web import (
    admin,
    audit_pages,
    enrol,
    holds,
    ingest,
    misuse_pages,
    portal,
    qa,
    reidentify,
    safety,
    second_listens,
    signin,
    staff_auth,
    workbench,
)
from earmuff.web.errors import install_error_handlers
from earmuff.web.scheduler import every
from earmuff.web.templating import STATIC, make_templates

SECURITY_HEADERS = (
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"media-src 'self' blob:; object-src 'none'; frame-ancestors 'none'; "
        b"base-uri 'none'; form-action 'self'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
"""Pages load scripts only from earmuff itself and cannot be framed by another site."""


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response that does not set its own.

    Plain ASGI rather than ``@app.middleware("http")``, whose per-request task and
    body streaming cost the device API a third of its throughput.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in SECURITY_HEADERS if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    settings: Settings | None = None,
    store: Store | None = None,
    pipeline: PipelineEngine | None = None,
    retention_interval_s: float | None = None,
    misuse_interval_s: float | None = None,
) -> FastAPI:
    """Build the app for ``settings`` (default: from the environment) or an open ``store``.

    With ``pipeline`` (in-process, or the broker of the distributed engine), every
    stored recording is handed to it, and it runs for the app's lifetime; without,
    recordings wait for ``earmuff pipeline run``. With ``retention_interval_s``, the
    retention limits are enforced at start and then at that interval; without, by
    ``earmuff retention run``. With ``misuse_interval_s``, the misuse rules run over
    the audit log at start and then at that interval; without, by ``earmuff audit scan``.
    """
    store = store or open_store(settings or Settings.for_workspace())
    checkpointer = Checkpointer.for_settings(store.settings, store.db).attach()
    note_policy(store, "server")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if pipeline is not None:
            pipeline.start()
        stop = asyncio.Event()
        signing = asyncio.create_task(
            every(
                min(store.settings.audit_checkpoint_seconds, 10.0),
                "audit checkpoint",
                checkpointer.tick,
                stop,
            )
        )
        retention = None
        if retention_interval_s:
            retention = asyncio.create_task(
                every(
                    retention_interval_s,
                    "retention",
                    lambda: run_retention(store).summary(),
                    stop,
                )
            )
        misuse = None
        if misuse_interval_s:
            misuse = asyncio.create_task(
                every(misuse_interval_s, "misuse scan", lambda: periodic_scan(store), stop)
            )
        yield
        stop.set()
        await signing
        if retention is not None:
            await retention
        if misuse is not None:
            await misuse
        if pipeline is not None:
            pipeline.stop()
        checkpointer.checkpoint()
        store.close()

    app = FastAPI(
        title="earmuff",
        version=__version__,
        description="Privacy-first human review of voice-assistant recordings.",
        lifespan=lifespan,
    )
    app.state.store = store
    app.state.ingestor = Ingestor(
        store.settings,
        store.db,
        store.blobs,
        store.keyring,
        on_stored=pipeline.submit if pipeline is not None else None,
    )
    app.state.templates = make_templates()
    install_error_handlers(app)
    staff_auth.install(app)
    app.include_router(ingest.router)
    app.include_router(signin.router)
    app.include_router(admin.router)
    app.include_router(enrol.router)
    app.include_router(workbench.router)
    app.include_router(workbench.api)
    app.include_router(second_listens.router)
    app.include_router(second_listens.api)
    app.include_router(safety.router)
    app.include_router(safety.api)
    app.include_router(audit_pages.router)
    app.include_router(audit_pages.api)
    app.include_router(misuse_pages.router)
    app.include_router(qa.router)
    app.include_router(holds.router)
    app.include_router(reidentify.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    app.add_middleware(SecurityHeaders)
    portal.install(app)

    @app.get("/healthz", tags=["operations"], summary="Liveness and database reachability")
    def healthz() -> dict[str, str]:
        with store.db.read() as session:
            session.connection().exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": __version__}

    schema = app.openapi()
    schema.setdefault("components", {}).setdefault("schemas", {})["RecordingMetadata"] = (
        RecordingMetadata.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    return app


def create_distributed_app() -> FastAPI:
    """One process of ``earmuff serve --workers N`` with a broker: it enqueues what it
    stores, and enforces retention."""
    from earmuff.pipeline.distributed import BrokerPipeline

    store = open_store(Settings.for_workspace())
    return create_app(
        store=store,
        pipeline=BrokerPipeline(store),
        retention_interval_s=store.settings.retention_interval_s,
        misuse_interval_s=store.settings.policy.misuse.scan_minutes * 60,
    )


def create_served_app() -> FastAPI:
    """The app ``earmuff serve --workers N`` starts in each process, retention and the
    misuse rules included (concurrent runs are safe: each deletion is one transaction
    and idempotent, and scans raise each alert once)."""
    settings = Settings.for_workspace()
    return create_app(
        settings,
        retention_interval_s=settings.retention_interval_s,
        misuse_interval_s=settings.policy.misuse.scan_minutes * 60,
    )
