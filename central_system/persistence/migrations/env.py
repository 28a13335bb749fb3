"""Alembic environment: runs on a connection we hand it, or on CENTRAL_SYSTEM_DATABASE_URL."""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from central_system.config import DEFAULT_DATABASE_URL
from central_system.persistence.tables import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url() -> None:
    url = os.environ.get("CENTRAL_SYSTEM_DATABASE_URL", DEFAULT_DATABASE_URL)
    schema = os.environ.get("CENTRAL_SYSTEM_DATABASE_SCHEMA")
    engine = create_async_engine(
        url, connect_args={"server_settings": {"search_path": schema}} if schema else {}
    )
    async with engine.begin() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_from_url())
