"""Work on the shared database that one node does for all: retention, migrations."""

from __future__ import annotations

import logging
import zlib
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from central_system.cluster.node import ClusterNode
from central_system.persistence import migrations
from central_system.persistence.message_log import MessageLog

logger = logging.getLogger(__name__)


class ClusterMessageLog(MessageLog):
    """The message log; on a cluster node, retention runs on one node per period.

    Every node still writes its own chargers' frames; only the hourly delete of old
    frames is taken in turn, through the node's job lease. Without a node (one
    process) this is the plain ``MessageLog``.
    """

    def __init__(
        self,
        *args: Any,
        node: ClusterNode | None,
        retention_every: timedelta = timedelta(hours=1),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, retention_every=retention_every, **kwargs)
        self._node = node
        self._period = retention_every.total_seconds()

    async def prune(self) -> int:
        if self._node is not None and not await self._node.take_job(
            "message-log-retention", self._period
        ):
            return 0
        return await super().prune()


async def upgrade_exclusively(engine: AsyncEngine, schema: str | None) -> None:
    """Migrate under a PostgreSQL advisory lock: nodes that start together migrate once."""
    key = zlib.crc32(f"central_system.migrations:{schema or ''}".encode())
    async with engine.connect() as connection:
        await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": key})
        await connection.commit()
        try:
            await migrations.upgrade(engine)
        finally:
            await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            await connection.commit()
