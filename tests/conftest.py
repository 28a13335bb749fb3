"""Fixtures shared by every tier.

Database-backed tests run twice: on a SQLite file and on the PostgreSQL server
of this machine (127.0.0.1:5432, database ``test``, a schema of its own per run).
Where PostgreSQL cannot be reached those runs skip, except under ``CI=true``,
where they fail.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from central_system.config import Settings
from central_system.persistence import migrations
from central_system.persistence.db import Database, create_database
from central_system.persistence.tables import Base
from central_system.ports import Clock
from central_system.system import CentralSystem

POSTGRES_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
OPERATOR_TOKEN = "operator-test-token"


@dataclass(frozen=True)
class DatabaseConfig:
    backend: str
    url: str
    schema: str | None = None


def _asyncpg_dsn() -> str:
    return POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")


async def _pg(statement: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    schema = f"cs_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg(f'CREATE SCHEMA "{schema}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        message = f"PostgreSQL at {POSTGRES_URL} is not reachable: {error}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    yield schema
    asyncio.run(_pg(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_config(request: pytest.FixtureRequest, tmp_path: Path) -> DatabaseConfig:
    if request.param == "sqlite":
        return DatabaseConfig("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'central.sqlite3'}")
    schema = request.getfixturevalue("postgres_schema")
    return DatabaseConfig("postgresql", POSTGRES_URL, schema)


@pytest.fixture
def sqlite_config(tmp_path: Path) -> DatabaseConfig:
    return DatabaseConfig("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'central.sqlite3'}")


async def _empty_postgres(database: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with database.write_engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@asynccontextmanager
async def migrated(config: DatabaseConfig) -> AsyncIterator[Database]:
    database = create_database(config.url, schema=config.schema)
    try:
        await migrations.upgrade(database.write_engine)
        if config.backend == "postgresql":
            await _empty_postgres(database)
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def database(database_config: DatabaseConfig) -> AsyncIterator[Database]:
    async with migrated(database_config) as db:
        yield db


def settings_for(config: DatabaseConfig, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "ocpp_port": 0,
        "api_port": 0,
        "database_url": config.url,
        "database_schema": config.schema,
        "operator_token": OPERATOR_TOKEN,
        "ocpp_response_timeout": 5.0,
        # Tests about the boot-time configuration exchange turn it on themselves.
        "configure_at_boot": False,
    }
    values.update(overrides)
    return Settings(**values)


class MovableClock:
    """A clock the test moves by hand: the system sees no time pass unless told."""

    def __init__(self, now: datetime | None = None) -> None:
        self.moment = now or datetime.now(UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


@asynccontextmanager
async def running_system(
    config: DatabaseConfig, *, clock: Clock | None = None, **overrides: Any
) -> AsyncIterator[CentralSystem]:
    """A real central system on 127.0.0.1 with ports chosen by the OS."""
    if config.backend == "postgresql":
        async with migrated(config):
            pass  # schema present and emptied before the system starts
    system = CentralSystem(
        settings_for(config, **overrides), operator_token=OPERATOR_TOKEN, clock=clock
    )
    await system.start()
    try:
        yield system
    finally:
        await system.stop()


@pytest.fixture
async def system(sqlite_config: DatabaseConfig) -> AsyncIterator[CentralSystem]:
    async with running_system(sqlite_config) as running:
        yield running


def ocpp_url(system: CentralSystem, charge_point_id: str) -> str:
    return f"ws://127.0.0.1:{system.ocpp_port}{system.settings.ocpp_path_prefix}/{charge_point_id}"
