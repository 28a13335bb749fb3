"""``--workers 2``: two processes of one node share its ports; each is a cluster node."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import redis.asyncio

from tests.cluster.helpers import ClusterEnv, charger_on, start_nodes_async

pytestmark = pytest.mark.postgres


async def test_two_workers_share_the_ports_and_reach_each_others_chargers(
    cluster_env: ClusterEnv, redis_client: redis.asyncio.Redis
) -> None:
    (node,) = await start_nodes_async(cluster_env, "node-w", extra=("--workers", "2"))
    try:
        ids = [f"CP-W-{n:02d}" for n in range(16)]
        async with contextlib.AsyncExitStack() as stack:
            chargers = [await stack.enter_async_context(charger_on(node, cp)) for cp in ids]
            for charger in chargers:
                await charger.boot()  # answered: every charger is registered and claimed
            owners = await redis_client.mget([f"{cluster_env.prefix}charger:{cp}" for cp in ids])
            workers = {value.rpartition("|")[0] for value in owners if value}
            # The kernel spreads connections over both (all on one: 2**-15).
            assert workers == {"node-w-0", "node-w-1"}
            async with node.api() as api:
                for charger in chargers:  # whichever worker answers the HTTP request
                    answer = await api.post(
                        f"/api/v1/operator/charge-points/{charger.id}/commands/reset",
                        json={"type": "Soft"},
                    )
                    assert answer.status_code == 200, answer.text
            assert all(c.received == [("Reset", {"type": "Soft"})] for c in chargers)
        assert await asyncio.to_thread(node.stop) == 0
        assert "Traceback" not in node.log_text()
    finally:
        if node.process.poll() is None:
            node.kill()
