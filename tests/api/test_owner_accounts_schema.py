"""The migrations build exactly the tables that ``tables.py`` declares."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from central_system.persistence.tables import Base
from tests.conftest import DatabaseConfig, migrated


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "render_as_batch": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(database_config: DatabaseConfig) -> None:
    async with migrated(database_config) as database, database.write_engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == []


async def test_owner_tables_exist_after_migration(database_config: DatabaseConfig) -> None:
    async with migrated(database_config) as database, database.write_engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {"owner_accounts", "owner_tokens"} <= tables
