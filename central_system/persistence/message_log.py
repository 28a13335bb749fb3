"""The OCPP message log: every frame in and out, written off the reply path.

Frames are queued in memory (bounded; a full queue makes the receiving side wait
rather than drop a frame) and written in batches by one task. The same batch
moves each charger's ``last_seen_at`` to its newest incoming frame, so a charger's
liveness costs no write of its own. On SQLite the batch is one job of the writer
thread's group commit (``persistence.writer``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, bindparam, delete, insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from central_system.domain.model import LoggedMessage
from central_system.persistence.db import Database
from central_system.persistence.tables import ChargePointRow, MessageLogRow
from central_system.persistence.writer import SqliteWriter
from central_system.ports import Clock

logger = logging.getLogger(__name__)

_frames = cast(Table, MessageLogRow.__table__)
_charge_points = cast(Table, ChargePointRow.__table__)
_INSERT_FRAME = insert(_frames)
_LAST_SEEN = update(_charge_points).where(_charge_points.c.id == bindparam("b_id"))


class MessageLog:
    def __init__(
        self,
        database: Database,
        clock: Clock,
        *,
        batch_size: int = 500,
        queue_size: int = 10_000,
        retention: timedelta = timedelta(days=30),
        retention_every: timedelta = timedelta(hours=1),
        writer: SqliteWriter | None = None,
    ) -> None:
        self._database = database
        self._sqlite = writer
        self._clock = clock
        self._batch_size = batch_size
        self._queue: asyncio.Queue[LoggedMessage] = asyncio.Queue(maxsize=queue_size)
        self._retention = retention
        self._retention_every = retention_every
        self._writer: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None

    async def record(self, frame: LoggedMessage) -> None:
        if self._queue.full():
            logger.warning("message log queue full; the charger's reads wait for the writer")
        await self._queue.put(frame)

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="message-log-writer")
        self._pruner = asyncio.create_task(self._prune_forever(), name="message-log-pruner")

    async def flush(self) -> None:
        """Wait until every frame recorded so far is in the database."""
        await self._queue.join()

    async def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._pruner is not None:
            self._pruner.cancel()
        if self._writer is not None:
            await self.flush()
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        self._writer = self._pruner = None

    async def _write_forever(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._write(batch)
            except Exception:
                logger.exception("could not write %d frames to the message log", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _write(self, batch: list[LoggedMessage]) -> None:
        if self._sqlite is None:
            await self._insert(self._database.write_sessions, batch)
        else:
            await self._sqlite(self._insert_on_writer(self._sqlite, batch), background=True)

    @classmethod
    async def _insert_on_writer(cls, writer: SqliteWriter, batch: list[LoggedMessage]) -> None:
        assert writer.sessions is not None  # this runs on the writer's thread
        await cls._insert(writer.sessions, batch)

    @staticmethod
    async def _insert(
        sessions: async_sessionmaker[AsyncSession], batch: list[LoggedMessage]
    ) -> None:
        last_seen: dict[str, datetime] = {}
        for frame in batch:
            if frame.direction == "in":
                last_seen[frame.charge_point_id] = frame.at
        async with sessions() as session, session.begin():
            await session.execute(
                _INSERT_FRAME,
                [
                    {
                        "charge_point_id": f.charge_point_id,
                        "direction": f.direction,
                        "message_type": f.message_type,
                        "action": f.action,
                        "unique_id": f.unique_id,
                        "payload": f.payload,
                        "at": f.at,
                    }
                    for f in batch
                ],
            )
            if last_seen:
                await session.execute(
                    _LAST_SEEN,
                    [{"b_id": cp, "last_seen_at": at} for cp, at in last_seen.items()],
                )

    async def prune(self) -> int:
        """Delete frames older than the retention; returns how many."""
        cutoff = self._clock.now() - self._retention
        async with self._database.write_sessions() as session, session.begin():
            result = await session.execute(delete(MessageLogRow).where(MessageLogRow.at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(self._retention_every.total_seconds())
            try:
                pruned = await self.prune()
                if pruned:
                    logger.info("pruned %d message log frames past retention", pruned)
            except Exception:
                logger.exception("message log retention failed")
