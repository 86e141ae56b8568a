"""Shared fixtures: a fresh workspace per test, on SQLite and on PostgreSQL.

Under ``CI=true`` a missing dependency (PostgreSQL, the speech corpus) fails the test;
elsewhere it skips with a reason naming what is missing.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from earmuff.config import Settings
from earmuff.store import Store, open_store
from earmuff.store.models import Base
from earmuff.web import create_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get(
    "EARMUFF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CORPUS = Path(
    os.environ.get("EARMUFF_CORPUS", Path(__file__).parents[1] / ".." / "shared" / "data")
)


def missing(what: str) -> None:
    """Skip outside CI, fail inside it: CI must exercise every backend and data set."""
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is missing", pytrace=False)
    pytest.skip(f"{what} is missing")


@pytest.fixture
def chromium() -> Iterator[Browser]:
    """Debian's Chromium under Playwright (``EARMUFF_CHROMIUM`` names another build);
    autoplay is allowed so that pages can play audio without a click."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    path = os.environ.get("EARMUFF_CHROMIUM") or shutil.which("chromium")
    if not path:
        missing("Chromium (Debian package chromium; make setup installs it)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path,
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield browser
        browser.close()


@contextmanager
def scratch_postgres_database(prefix: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server, dropped afterwards; its URL."""
    admin_url = make_url(POSTGRES_URL)
    try:
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        missing(f"PostgreSQL at {POSTGRES_URL} ({exc.__class__.__name__})")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway database for the session; each test empties its tables first."""
    with scratch_postgres_database("earmuff_test") as url:
        yield url


def _empty_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = [
            t.name for t in Base.metadata.sorted_tables if conn.dialect.has_table(conn, t.name)
        ]
        if tables:
            # The audit table refuses TRUNCATE by trigger; a replica session fires none,
            # as a DBA restoring a test fixture would run it.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            if "audit_events" in tables:
                conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'earmuff.db'}"
    url: str = request.getfixturevalue("postgres_database")
    _empty_postgres(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings.for_workspace(
        tmp_path / "workspace", env={"EARMUFF_DATABASE_URL": database_url}
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    opened = open_store(settings)
    yield opened
    opened.close()


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store=store)) as test_client:
        yield test_client


@pytest.fixture
def corpus() -> Path:
    if not (CORPUS / "manifests").is_dir():
        missing(f"the speech corpus at {CORPUS} (set EARMUFF_CORPUS)")
    return CORPUS
