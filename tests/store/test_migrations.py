"""Alembic migrations create exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Integer, MetaData, String, Text, inspect, text

from earmuff.store.db import Database, alembic_config, make_engine, upgrade
from earmuff.store.models import Base
from tests.conftest import scratch_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nothing has touched: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    with scratch_postgres_database("earmuff_migrations") as url:
        yield url


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


def schema_of(url: str) -> dict[str, Any]:
    """Everything the database says about its tables, in a comparable form."""
    engine = make_engine(url)
    try:
        inspector = inspect(engine)
        schema: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            schema[table] = {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "fks": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"])
                    for f in inspector.get_foreign_keys(table)
                ),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
                "uniques": sorted(
                    tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)
                ),
            }
        with engine.connect() as conn:
            schema["alembic_version"]["rows"] = [
                row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))
            ]
        return schema
    finally:
        engine.dispose()


def differences(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def test_upgrading_a_fresh_database_creates_every_model_table(fresh_url: str) -> None:
    Database(fresh_url).migrate()
    tables = set(schema_of(fresh_url))
    assert tables == set(Base.metadata.tables) | {"alembic_version"}


def test_the_migrated_schema_matches_the_models_exactly(fresh_url: str) -> None:
    """Autogenerate finds nothing to do: no missing or extra table, column, index,
    unique constraint or foreign key, and no type, nullability or default difference.

    Nothing is filtered out on either database: the models and migration 0001 agree
    even on SQLite, where type affinity could otherwise hide a wrong column type.
    """
    upgrade(fresh_url)
    assert differences(fresh_url) == []


def test_the_database_records_the_newest_revision(fresh_url: str) -> None:
    upgrade(fresh_url)
    assert schema_of(fresh_url)["alembic_version"]["rows"] == [head_revision()]


def test_upgrading_twice_changes_nothing(fresh_url: str) -> None:
    """``Database.migrate`` runs on every start: the second run must be a no-op."""
    database = Database(fresh_url)
    database.migrate()
    with database.transaction() as session:
        session.execute(
            text(
                "INSERT INTO accounts (id, external_id, is_child_profile, raw_retention, "
                "created_at) VALUES ('a1', 'ACC-1', false, 'policy', CURRENT_TIMESTAMP)"
            )
        )
    first = schema_of(fresh_url)
    database.migrate()
    upgrade(fresh_url)
    assert schema_of(fresh_url) == first
    with database.transaction() as session:
        assert session.execute(text("SELECT external_id FROM accounts")).scalars().all() == [
            "ACC-1"
        ]
    database.dispose()


def test_the_schema_can_be_taken_down_and_rebuilt(fresh_url: str) -> None:
    from alembic import command

    upgrade(fresh_url)
    command.downgrade(alembic_config(fresh_url), "base")
    assert set(schema_of(fresh_url)) == {"alembic_version"}
    upgrade(fresh_url)
    assert differences(fresh_url) == []


def test_a_model_change_without_a_migration_would_be_noticed(fresh_url: str) -> None:
    """Guards the comparison above: a column the migrations lack is reported."""
    upgrade(fresh_url)
    engine = make_engine(fresh_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE devices ADD COLUMN nickname VARCHAR(40)"))
    finally:
        engine.dispose()
    found = differences(fresh_url)
    assert [(d[0], d[3].name) for d in found] == [("remove_column", "nickname")]


@pytest.mark.parametrize(
    ("column", "model_type"),
    [("serial", String(64)), ("is_child_profile", Integer()), ("created_at", Text())],
    ids=["shorter string", "integer for boolean", "text for timestamp"],
)
def test_a_column_type_the_migrations_disagree_with_would_be_noticed(
    fresh_url: str, column: str, model_type: Any
) -> None:
    """Guards the comparison: type differences are compared, on SQLite too."""
    upgrade(fresh_url)
    altered = MetaData(naming_convention=Base.metadata.naming_convention)
    for table in Base.metadata.sorted_tables:
        table.to_metadata(altered)
    altered.tables["devices"].c[column].type = model_type
    engine = make_engine(fresh_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            found = compare_metadata(context, altered)
    finally:
        engine.dispose()
    assert len(found) == 1
    (change,) = found[0]
    assert change[0] == "modify_type"
    assert (change[2], change[3]) == ("devices", column)
