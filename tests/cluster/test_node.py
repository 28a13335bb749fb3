"""``ClusterNode`` in this process against the real Redis: ownership, leases, errors."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio

from central_system.cluster import ClusterCommands, ClusterNode, wire
from central_system.cluster.node import redis_client
from central_system.domain.errors import (
    ChargerDisconnected,
    ChargerNotConnected,
    CommandFailed,
    CommandPayloadInvalid,
    CommandQueueFull,
    CommandRejected,
    CommandTimeout,
    InvalidCommandReply,
    UnknownCommand,
)
from tests.cluster.helpers import REDIS_URL, delete_prefix, eventually, redis_ready


@pytest.mark.parametrize(
    "error",
    [
        ChargerNotConnected("CP"),
        ChargerDisconnected("CP"),
        CommandQueueFull("CP"),
        CommandTimeout("Reset", 30.0),
        CommandRejected("NotImplemented", "no handler", {"cause": "x"}),
        InvalidCommandReply("Reset", "'status' is a required property", {"state": 1}),
        UnknownCommand("Dance"),
        CommandPayloadInvalid("Reset", "FormationViolation", {"cause": "type"}),
    ],
    ids=lambda e: type(e).__name__,
)
def test_errors_cross_the_wire_as_themselves(error: Exception) -> None:
    reply = wire.decode(wire.encode(wire.CommandReply("r1", error=wire.error_to_wire(error))))
    assert isinstance(reply, wire.CommandReply)
    assert reply.error is not None
    rebuilt = wire.error_from_wire(reply.error)
    assert type(rebuilt) is type(error)
    assert vars(rebuilt) == vars(error)
    assert str(rebuilt) == str(error)


def test_other_failures_and_strange_messages() -> None:
    rebuilt = wire.error_from_wire(wire.error_to_wire(RuntimeError("boom")))
    assert type(rebuilt) is CommandFailed
    assert str(rebuilt) == "boom"
    assert type(wire.error_from_wire({"type": "CommandTimeout"})) is CommandFailed
    assert wire.decode("not json") is None
    assert wire.decode('{"kind": "gossip"}') is None
    assert wire.OwnershipNews.parse("claim|node-a|7|CP|with|bars") == wire.OwnershipNews(
        True, wire.Owner("node-a", 7), "CP|with|bars"
    )
    assert wire.OwnershipNews.parse("claim|node-a|x|CP") is None
    assert wire.Owner.parse("node-a|x") is None


class FakeConnection:
    def __init__(self, charge_point_id: str) -> None:
        self.id = charge_point_id
        self.closed_with: asyncio.Future[tuple[int, str]] = (
            asyncio.get_running_loop().create_future()
        )

    async def close(self, code: int, reason: str) -> None:
        self.closed_with.set_result((code, reason))


class FakeLocal:
    """The node's own chargers: answers every command with what it was sent."""

    def __init__(self) -> None:
        self.here: set[str] = set()
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def is_connected(self, charge_point_id: str) -> bool:
        return charge_point_id in self.here

    async def send(
        self, charge_point_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        if charge_point_id not in self.here:
            raise ChargerNotConnected(charge_point_id)
        self.sent.append((charge_point_id, action, payload))
        return {"status": "Accepted"}


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    redis_ready()
    name = f"cs-test-{uuid.uuid4().hex[:12]}:"
    yield name
    await asyncio.to_thread(delete_prefix, name)


async def _node(prefix: str, node_id: str) -> tuple[ClusterNode, FakeLocal, ClusterCommands]:
    node = ClusterNode(
        redis_client(REDIS_URL, pool_size=8, node_id=f"{prefix}{node_id}"),
        node_id=node_id,
        prefix=prefix,
        lease=3.0,
        response_timeout=2.0,
        command_queue_limit=1,
    )
    local = FakeLocal()
    node.attach(local)
    await node.start()
    return node, local, ClusterCommands(node, local)


async def test_claims_route_commands_and_a_newer_claim_closes_the_old_socket(prefix: str) -> None:
    one, one_local, one_commands = await _node(prefix, "one")
    two, two_local, two_commands = await _node(prefix, "two")
    client = redis.asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        old = FakeConnection("CP-1")
        one_local.here.add("CP-1")
        one.registered(old)

        async def two_sees_it() -> bool:
            return two_commands.is_connected("CP-1")

        await eventually(two_sees_it, what="the claim is announced")
        assert await two_commands.send("CP-1", "Reset", {"type": "Soft"}) == {"status": "Accepted"}
        assert one_local.sent == [("CP-1", "Reset", {"type": "Soft"})]
        with pytest.raises(UnknownCommand):
            await two_commands.send("CP-1", "Dance", {})
        with pytest.raises(CommandPayloadInvalid):
            await two_commands.send("CP-1", "Reset", {"type": "Sideways"})
        with pytest.raises(ChargerNotConnected):
            await two_commands.send("CP-NOWHERE", "Reset", {"type": "Soft"})

        # The charger reconnects to node two: node one closes its old socket.
        new = FakeConnection("CP-1")
        two_local.here.add("CP-1")
        two.registered(new)
        assert await asyncio.wait_for(old.closed_with, 5) == (
            1000,
            "replaced by a newer connection on another node",
        )
        one_local.here.discard("CP-1")
        one.unregistered(old)  # its cleanup must not release node two's claim
        assert await one_commands.send("CP-1", "Reset", {"type": "Hard"}) == {"status": "Accepted"}
        assert two_local.sent == [("CP-1", "Reset", {"type": "Hard"})]
        assert (await client.get(f"{prefix}charger:CP-1") or "").startswith("two|")

        two_local.here.discard("CP-1")
        two.unregistered(new)

        async def released() -> bool:
            return await client.get(f"{prefix}charger:CP-1") is None

        await eventually(released, what="the clean disconnect releases the claim")

        async def one_hears_of_it() -> bool:
            return not one_commands.is_connected("CP-1")

        await eventually(one_hears_of_it, what="the release is announced")
    finally:
        await one.stop()
        await two.stop()
        await client.aclose()


async def test_a_lost_key_is_restored_and_a_taken_one_closes_the_socket(prefix: str) -> None:
    one, one_local, _ = await _node(prefix, "one")
    client = redis.asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        kept, taken = FakeConnection("CP-KEPT"), FakeConnection("CP-TAKEN")
        for connection in (kept, taken):
            one_local.here.add(connection.id)
            one.registered(connection)

        async def claimed() -> bool:
            return await client.exists(f"{prefix}charger:CP-KEPT", f"{prefix}charger:CP-TAKEN") == 2

        await eventually(claimed, what="both claimed")
        kept_value = await client.get(f"{prefix}charger:CP-KEPT")
        await client.delete(f"{prefix}charger:CP-KEPT")  # as after a Redis restart
        # Taken behind our back, without news (as if the news was missed).
        await client.set(f"{prefix}charger:CP-TAKEN", "elsewhere|999999999")
        code, _ = await asyncio.wait_for(taken.closed_with, 5)  # at the next renewal
        assert code == 1000
        assert await client.get(f"{prefix}charger:CP-KEPT") == kept_value
        assert not kept.closed_with.done()
    finally:
        await one.stop()
        await client.aclose()


async def test_a_job_runs_on_one_node_per_period(prefix: str) -> None:
    one, _, _ = await _node(prefix, "one")
    two, _, _ = await _node(prefix, "two")
    try:
        taken = await asyncio.gather(
            *(node.take_job("message-log-retention", 60) for node in (one, two, one, two))
        )
        assert sorted(taken) == [False, False, False, True]
    finally:
        await one.stop()
        await two.stop()


async def test_a_command_for_a_node_that_died_fails_fast(prefix: str) -> None:
    one, _, commands = await _node(prefix, "one")
    client = redis.asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        # A claim left behind by a node that is gone (SIGKILL): nobody reads its inbox.
        await client.set(f"{prefix}charger:CP-ORPHAN", "dead|1", px=60_000)
        with pytest.raises(ChargerNotConnected):
            await asyncio.wait_for(commands.send("CP-ORPHAN", "Reset", {"type": "Soft"}), 2)
    finally:
        await one.stop()
        await client.aclose()


async def test_a_node_whose_redis_connection_breaks_resubscribes(prefix: str) -> None:
    one, one_local, _ = await _node(prefix, "one")
    two, _, two_commands = await _node(prefix, "two")
    client = redis.asyncio.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        one_local.here.add("CP-1")
        one.registered(FakeConnection("CP-1"))
        await eventually(_connected(two_commands, "CP-1"), what="the claim is announced")
        subscribers = [
            c["id"]
            for c in await client.client_list()
            if c.get("name") == f"central-system:{prefix}one" and c.get("sub") != "0"
        ]
        assert len(subscribers) == 1
        await client.client_kill_filter(_id=subscribers[0])

        async def answered() -> bool:
            # Until node one listens again nobody receives the command: it fails at
            # once (never silently); afterwards it is answered.
            try:
                await two_commands.send("CP-1", "Reset", {"type": "Soft"})
            except ChargerNotConnected:
                return False
            return True

        await eventually(answered, what="node one listens again")
        assert one_local.sent == [("CP-1", "Reset", {"type": "Soft"})]
    finally:
        await one.stop()
        await two.stop()
        await client.aclose()


def _connected(commands: ClusterCommands, charge_point_id: str) -> Any:
    async def check() -> bool:
        return commands.is_connected(charge_point_id)

    return check
