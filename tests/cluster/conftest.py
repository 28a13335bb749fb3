"""A cluster per test module: its own PostgreSQL schema and Redis key prefix.

The nodes are separate ``python -m central_system`` processes on loopback ports.
PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) must be reachable: the
tests skip without them, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import redis
import redis.asyncio

from tests.cluster.helpers import (
    REDIS_URL,
    ClusterEnv,
    Node,
    delete_prefix,
    redis_ready,
    start_nodes,
    unreachable,
)
from tests.conftest import _pg


@pytest.fixture(scope="module")
def cluster_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterEnv]:
    redis_ready()
    schema = f"cs_cluster_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_pg(f'CREATE SCHEMA "{schema}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        unreachable(f"PostgreSQL is not reachable: {error}")
    prefix = f"cs-test-{uuid.uuid4().hex[:12]}:"
    env = ClusterEnv(schema, prefix, tmp_path_factory.mktemp("cluster"))
    yield env
    delete_prefix(prefix)
    asyncio.run(_pg(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture(scope="module")
def cluster(cluster_env: ClusterEnv) -> Iterator[dict[str, Node]]:
    """Nodes A, B and C, started together on an empty schema."""
    nodes = start_nodes(cluster_env, "node-a", "node-b", "node-c")
    yield {node.node_id[-1].upper(): node for node in nodes}
    for node in nodes:
        if node.process.poll() is None:
            node.stop()


@pytest.fixture
async def redis_client() -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    yield client
    await client.aclose()
