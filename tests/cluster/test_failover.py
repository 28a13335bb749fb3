"""A node that dies or drains: its chargers reconnect elsewhere and stay reachable."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.cluster.helpers import (
    ClusterCharger,
    ClusterEnv,
    Node,
    eventually,
    is_connected_on,
    start_nodes_async,
)

pytestmark = pytest.mark.postgres


class Roaming:
    """A charger that reconnects to the next node when its connection is lost."""

    def __init__(self, charge_point_id: str, nodes: list[Node]) -> None:
        self.charge_point_id = charge_point_id
        self.nodes = nodes
        self.connections: asyncio.Queue[ClusterCharger] = asyncio.Queue()
        self.close_codes: list[int | None] = []

    async def run(self) -> None:
        for node in self.nodes:
            try:
                async with connect(
                    node.ocpp_url(self.charge_point_id),
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                ) as connection:
                    charger = ClusterCharger(self.charge_point_id, connection)
                    await self.connections.put(charger)
                    try:
                        await charger.start()
                    finally:
                        self.close_codes.append(connection.close_code)
            except (ConnectionClosed, OSError):
                continue

    async def next(self) -> ClusterCharger:
        async with asyncio.timeout(15):
            return await self.connections.get()


@contextlib.asynccontextmanager
async def roaming(charge_point_id: str, *nodes: Node) -> AsyncIterator[Roaming]:
    charger = Roaming(charge_point_id, list(nodes))
    task = asyncio.create_task(charger.run())
    try:
        yield charger
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _owned_by(client: redis.asyncio.Redis, env: ClusterEnv, cp: str, node: Node) -> bool:
    value = await client.get(f"{env.prefix}charger:{cp}")
    return value is not None and value.startswith(node.node_id + "|")


async def _reset(api: httpx.AsyncClient, charge_point_id: str) -> httpx.Response:
    return await api.post(
        f"/api/v1/operator/charge-points/{charge_point_id}/commands/reset", json={"type": "Soft"}
    )


async def test_a_killed_nodes_chargers_reconnect_elsewhere_and_commands_reach_them_there(
    cluster: dict[str, Node], cluster_env: ClusterEnv, redis_client: redis.asyncio.Redis
) -> None:
    a, b, c = cluster["A"], cluster["B"], cluster["C"]
    (doomed,) = await start_nodes_async(cluster_env, "node-kill")
    try:
        async with (
            roaming("CP-KILL-1", doomed, a) as first,
            roaming("CP-KILL-2", doomed, a) as second,
            roaming("CP-KILL-GONE", doomed) as gone,
            b.api() as api,
        ):
            chargers = [await first.next(), await second.next(), await gone.next()]
            for charger in chargers:
                await eventually(
                    lambda cp=charger.id: _owned_by(redis_client, cluster_env, cp, doomed),
                    what=f"{charger.id} claimed by the doomed node",
                )
            assert (await _reset(api, "CP-KILL-1")).status_code == 200

            doomed.kill()  # SIGKILL: no drain, no release; the sockets just die
            moved = [await first.next(), await second.next()]
            for charger in moved:
                await eventually(
                    lambda cp=charger.id: _owned_by(redis_client, cluster_env, cp, a),
                    what=f"{charger.id} claimed by A",
                )
                async with c.api() as other:
                    for caller in (api, other):
                        answer = await _reset(caller, charger.id)
                        assert answer.status_code == 200, answer.text
                assert charger.received == [("Reset", {"type": "Soft"})] * 2

            # Nobody listens for the dead node any more: no waiting for its lease.
            started = time.monotonic()
            answer = await _reset(api, "CP-KILL-GONE")
            assert answer.status_code == 404, answer.text
            assert time.monotonic() - started < 2

            async def gone_everywhere() -> bool:
                return not await is_connected_on(b, "CP-KILL-GONE")

            # Its lease (3 s) runs out and the next scan forgets it.
            await eventually(gone_everywhere, within=15, what="the dead node's lease ran out")
    finally:
        if doomed.process.poll() is None:
            doomed.kill()


async def test_a_node_drains_on_sigterm(
    cluster: dict[str, Node], cluster_env: ClusterEnv, redis_client: redis.asyncio.Redis
) -> None:
    """Not ready, no new chargers, the command in flight finishes, chargers move, exit 0."""
    a, b = cluster["A"], cluster["B"]
    (draining,) = await start_nodes_async(cluster_env, "node-drain")
    try:
        async with roaming("CP-DRAIN", draining, a) as charger, b.api() as api:
            first = await charger.next()
            await eventually(
                lambda: _owned_by(redis_client, cluster_env, "CP-DRAIN", draining),
                what="claimed by the draining node",
            )
            first.hold_reset = asyncio.Event()
            pending = asyncio.create_task(_reset(api, "CP-DRAIN"))
            async with asyncio.timeout(10):
                await first.reset_received.wait()

            draining.process.send_signal(signal.SIGTERM)

            async def not_ready() -> bool:
                async with draining.api() as own:
                    return (await own.get("/readyz")).status_code == 503

            await eventually(not_ready, what="/readyz of the draining node answers 503")
            with pytest.raises(ConnectionRefusedError):
                async with connect(draining.ocpp_url("CP-NEW"), subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
                    pass
            assert not pending.done()  # still waiting for the charger's answer
            first.hold_reset.set()
            answer = await asyncio.wait_for(pending, 10)
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"status": "Accepted"}

            second = await charger.next()  # closed with 1001, reconnected to A
            assert charger.close_codes == [1001]
            assert await asyncio.to_thread(draining.wait) == 0
            await eventually(
                lambda: _owned_by(redis_client, cluster_env, "CP-DRAIN", a),
                what="claimed by A",
            )
            assert (await _reset(api, "CP-DRAIN")).status_code == 200
            assert second.received == [("Reset", {"type": "Soft"})]
        assert "Traceback" not in draining.log_text()
    finally:
        if draining.process.poll() is None:
            draining.kill()
