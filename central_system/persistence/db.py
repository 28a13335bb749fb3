"""Engines and sessions.

SQLite (the default) gets one writer connection and a small pool of readers. A
single writer means our own writes never wait on each other for the file lock;
readers never block in WAL mode. Writes begin with ``BEGIN IMMEDIATE`` so a
second process (a migration, an operator's shell) waits on ``busy_timeout``
instead of failing half-way. The writer commits with ``synchronous=NORMAL``
(crash-safe) unless the unit of work asks to be durable, which switches that
commit to ``synchronous=FULL`` (power-loss-safe); StartTransaction and
StopTransaction ask for it.

PostgreSQL uses one pooled engine for both; its commits are durable by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

_DURABLE = "garage_durable"


@dataclass(frozen=True)
class Database:
    """Where sessions come from; built once at start and passed down."""

    url: str
    write_engine: AsyncEngine
    read_engine: AsyncEngine
    write_sessions: async_sessionmaker[AsyncSession]
    durable_sessions: async_sessionmaker[AsyncSession]
    read_sessions: async_sessionmaker[AsyncSession]

    @property
    def is_sqlite(self) -> bool:
        return self.write_engine.dialect.name == "sqlite"

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def _sqlite_engine(url: str, *, writer: bool, busy_timeout_ms: int, pool_size: int) -> AsyncEngine:
    engine = create_async_engine(
        url,
        poolclass=AsyncAdaptedQueuePool,
        pool_size=1 if writer else pool_size,
        max_overflow=0,
        pool_timeout=60,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        _record.info["synchronous"] = "NORMAL"
        if not writer:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        if writer:
            durable = connection.get_execution_options().get(_DURABLE, False)
            mode = "FULL" if durable else "NORMAL"
            if connection.info.get("synchronous") != mode:  # a round trip saved per write
                connection.exec_driver_sql(f"PRAGMA synchronous={mode}")
                connection.info["synchronous"] = mode
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


def create_database(
    url: str,
    *,
    pool_size: int = 10,
    busy_timeout_ms: int = 10_000,
    schema: str | None = None,
) -> Database:
    """Build the engines for ``url`` (``sqlite+aiosqlite:///…`` or ``postgresql+asyncpg://…``)."""
    if make_url(url).get_backend_name() == "sqlite":
        write_engine = _sqlite_engine(
            url, writer=True, busy_timeout_ms=busy_timeout_ms, pool_size=1
        )
        read_engine = _sqlite_engine(
            url, writer=False, busy_timeout_ms=busy_timeout_ms, pool_size=max(2, pool_size // 2)
        )
    else:
        write_engine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            connect_args={"server_settings": {"search_path": schema}} if schema else {},
        )
        read_engine = write_engine
    durable_engine = write_engine.execution_options(**{_DURABLE: True})
    return Database(
        url=url,
        write_engine=write_engine,
        read_engine=read_engine,
        write_sessions=async_sessionmaker(write_engine, expire_on_commit=False),
        durable_sessions=async_sessionmaker(durable_engine, expire_on_commit=False),
        read_sessions=async_sessionmaker(read_engine, expire_on_commit=False),
    )
