"""``ClusterNode``: this process as a member of the cluster, in Redis.

Keys and channels, all under the configured prefix::

    charger:<id>     "<node>|<epoch>"  the owner of a charger's socket (lease, renewed)
    epoch            counter           every claim takes the next value
    node:<node>      "alive"           the node is up (lease, renewed)
    job:<name>       "<node>"          who runs a periodic job this period (lease)
    inbox:<node>     channel           commands for the node's chargers, and answers
    ownership        channel           claim|... and release|... news (see ``wire``)

Every change of ownership is a Lua script, so the check and the change (and the
news) are one step: a claim always wins (the newest connection speaks for the
charger, as on one node); a release and a renewal only touch a key that still
names this connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url

from central_system.cluster import wire
from central_system.cluster.wire import CommandReply, CommandRequest, Owner, OwnershipNews
from central_system.config import Settings
from central_system.domain.errors import (
    CentralSystemError,
    ChargerDisconnected,
    ChargerNotConnected,
    CommandTimeout,
)
from central_system.ports import ChargerCommands

logger = logging.getLogger(__name__)

_CLAIM = """
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], 'claim|' .. ARGV[1] .. '|' .. epoch .. '|' .. ARGV[4])
return epoch
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'release|' .. ARGV[1] .. '|' .. ARGV[3])
  return 1
end
return 0
"""

# Renew the leases of this node's connections. A key that expired (Redis restarted,
# or this node stalled past its lease) and that nobody else took is written again;
# one that names another connection is lost: its index is returned.
_RENEW = """
local lost = {}
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value == ARGV[i + 1] then
    redis.call('PEXPIRE', key, ARGV[1])
  elseif not value then
    redis.call('SET', key, ARGV[i + 1], 'PX', ARGV[1])
  else
    table.insert(lost, i)
  end
end
return lost
"""

_RENEW_BATCH = 500
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


class LocalConnection(Protocol):
    """What the node needs of a charger's connection (``CentralChargePoint``)."""

    id: str

    async def close(self, code: int, reason: str) -> None: ...


@dataclass(eq=False)
class _Held:
    """A charger connection of this node, and its claim."""

    connection: LocalConnection
    epoch: int | None = None
    claim: asyncio.Task[None] | None = None
    #: The newest epoch another node claimed while our claim was on its way.
    superseded: int = 0
    released: bool = False

    def owner(self, node_id: str) -> Owner | None:
        return None if self.epoch is None else Owner(node_id, self.epoch)


def _text(value: str | bytes | None) -> str | None:
    """Replies are decoded (``decode_responses``); the client's types allow bytes too."""
    return value.decode() if isinstance(value, bytes) else value


def default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def redis_client(url: str, *, pool_size: int, node_id: str) -> Redis:
    """A client whose pool is bounded: a burst of claims waits instead of opening sockets.

    Its connections carry the node's name (``CLIENT LIST`` shows who is connected).
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=pool_size,
        client_name=f"central-system:{node_id}",
        timeout=10,
        decode_responses=True,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
    )
    return Redis.from_pool(pool)


class ClusterNode:
    """This process in the cluster: its chargers' claims, its inbox, its job leases.

    The registry tells it of connections (``registered``/``unregistered``);
    ``ClusterCommands`` asks it where a charger is and sends through it.
    """

    @classmethod
    def from_settings(cls, settings: Settings) -> ClusterNode | None:
        """The node ``settings`` describe, or ``None`` for a single process (no Redis)."""
        if settings.redis_url is None:
            return None
        database = make_url(settings.database_url.get_secret_value())
        if database.get_backend_name() != "postgresql":
            raise ValueError("cluster nodes share one database: use PostgreSQL with redis_url")
        node_id = settings.node_id or default_node_id()
        return cls(
            redis_client(
                settings.redis_url.get_secret_value(),
                pool_size=settings.redis_pool_size,
                node_id=node_id,
            ),
            node_id=node_id,
            prefix=settings.redis_prefix,
            lease=settings.ownership_lease_seconds,
            response_timeout=settings.ocpp_response_timeout,
            command_queue_limit=settings.ocpp_command_queue,
        )

    def __init__(
        self,
        redis: Redis,
        *,
        node_id: str,
        prefix: str,
        lease: float,
        response_timeout: float,
        command_queue_limit: int,
    ) -> None:
        self.node_id = node_id
        self._redis = redis
        self._prefix = prefix
        self._lease = lease
        self._lease_ms = max(1, round(lease * 1000))
        self._response_timeout = response_timeout
        # The longest a command can take on its node: every queued one ahead of it
        # timing out (as on one node), plus the time to notice that the node died.
        self._longest_wait = response_timeout * (command_queue_limit + 1) + lease
        self._local: ChargerCommands | None = None
        self._held: dict[str, _Held] = {}
        self._elsewhere: dict[str, Owner] = {}
        self._pending: dict[str, asyncio.Future[CommandReply]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._claim_script = redis.register_script(_CLAIM)
        self._release_script = redis.register_script(_RELEASE)
        self._renew_script = redis.register_script(_RENEW)

    # ------------------------------------------------------------------- names

    def _charger_key(self, charge_point_id: str) -> str:
        return f"{self._prefix}charger:{charge_point_id}"

    def _node_key(self, node_id: str) -> str:
        return f"{self._prefix}node:{node_id}"

    def _inbox(self, node_id: str) -> str:
        return f"{self._prefix}inbox:{node_id}"

    @property
    def _ownership(self) -> str:
        return f"{self._prefix}ownership"

    @property
    def _epoch_key(self) -> str:
        return f"{self._prefix}epoch"

    # --------------------------------------------------------------- life cycle

    def attach(self, local: ChargerCommands) -> None:
        """The commands for this process's own chargers (``ConnectedChargers``)."""
        self._local = local

    async def start(self) -> None:
        """Listen on the inbox and the ownership news, then announce the node."""
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self._inbox(self.node_id), self._ownership)
        confirmed = 0
        async with asyncio.timeout(10):
            while confirmed < 2:
                message = await pubsub.get_message(timeout=1.0)
                if message is not None and message["type"] == "subscribe":
                    confirmed += 1
        self._pubsub = pubsub
        await self._redis.set(self._node_key(self.node_id), "alive", px=self._lease_ms)
        await self._resync()
        self._listener = asyncio.create_task(self._listen(), name="cluster-listener")
        self._renewer = asyncio.create_task(self._renew_forever(), name="cluster-renewer")
        logger.info("cluster node %s joined (prefix %r)", self.node_id, self._prefix)

    async def drain(self, seconds: float) -> None:
        """Wait until no command runs here (at most ``seconds``)."""
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            logger.warning(
                "%d commands still running after %g s of draining; their chargers are "
                "disconnected now",
                self._in_flight,
                seconds,
            )

    async def stop(self) -> None:
        """Release what is left, leave the cluster, close the client."""
        for task in (self._renewer, self._listener):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._renewer, self._listener) if t is not None), return_exceptions=True
        )
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for held in list(self._held.values()):
            await self._release(held)
        self._held.clear()
        for future in self._pending.values():
            if not future.done():
                future.cancel()
        with contextlib.suppress(RedisError):
            await self._redis.delete(self._node_key(self.node_id))
        if self._pubsub is not None:
            with contextlib.suppress(RedisError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        await self._redis.aclose()
        logger.info("cluster node %s left", self.node_id)

    async def ready(self) -> bool:
        async with asyncio.timeout(2):
            return bool(await self._redis.ping())

    # ------------------------------------------------------------- ownership

    def registered(self, connection: LocalConnection) -> None:
        """The registry made ``connection`` the charger's: claim it in Redis."""
        held = _Held(connection)
        self._held[connection.id] = held
        held.claim = self._spawn(self._claim(held), f"claim-{connection.id}")

    def unregistered(self, connection: LocalConnection) -> None:
        """The charger's connection closed: release the claim if it is still ours."""
        held = self._held.get(connection.id)
        if held is None or held.connection is not connection:
            return  # lost to another node already, or replaced here
        del self._held[connection.id]
        self._spawn(self._release(held), f"release-{connection.id}")

    def held_elsewhere(self, charge_point_id: str) -> bool:
        """Does another node hold the charger (as far as the news and the last scan say)?"""
        return charge_point_id in self._elsewhere

    async def owner_of(self, charge_point_id: str) -> Owner | None:
        """The charger's owner as Redis says now (not the view)."""
        return Owner.parse(_text(await self._redis.get(self._charger_key(charge_point_id))))

    async def _claim(self, held: _Held) -> None:
        charge_point_id = held.connection.id
        try:
            epoch = await self._claim_script(
                keys=[self._charger_key(charge_point_id), self._epoch_key],
                args=[self.node_id, self._lease_ms, self._ownership, charge_point_id],
            )
        except RedisError as error:
            logger.error(
                "could not claim %s (%s); retried at the next renewal", charge_point_id, error
            )
            return
        held.epoch = int(epoch)
        if held.superseded > held.epoch:
            self._lose(held)

    async def _release(self, held: _Held) -> None:
        if held.claim is not None:
            await asyncio.gather(held.claim, return_exceptions=True)
        owner = held.owner(self.node_id)
        if owner is None or held.released:
            return
        held.released = True
        charge_point_id = held.connection.id
        try:
            await self._release_script(
                keys=[self._charger_key(charge_point_id)],
                args=[owner.value(), self._ownership, charge_point_id],
            )
        except RedisError as error:
            logger.warning("could not release %s (%s); its lease runs out", charge_point_id, error)

    def _lose(self, held: _Held) -> None:
        """Another node took the charger: close our socket (a command in flight fails)."""
        charge_point_id = held.connection.id
        if self._held.get(charge_point_id) is held:
            del self._held[charge_point_id]
        logger.info("charger %s moved to another node; closing its old connection", charge_point_id)
        self._spawn(
            held.connection.close(1000, "replaced by a newer connection on another node"),
            f"moved-{charge_point_id}",
        )

    def _on_news(self, news: OwnershipNews) -> None:
        charge_point_id, owner = news.charge_point_id, news.owner
        if not news.claimed:
            if self._elsewhere.get(charge_point_id) == owner:
                del self._elsewhere[charge_point_id]
            return
        if owner.node == self.node_id:
            self._elsewhere.pop(charge_point_id, None)
            return
        known = self._elsewhere.get(charge_point_id)
        if known is None or known.epoch < owner.epoch:
            self._elsewhere[charge_point_id] = owner
        held = self._held.get(charge_point_id)
        if held is None:
            return
        if held.epoch is None:
            held.superseded = max(held.superseded, owner.epoch)
        elif held.epoch < owner.epoch:
            self._lose(held)

    async def _renew_forever(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self._lease / 3)
            rounds += 1
            try:
                await self._redis.set(self._node_key(self.node_id), "alive", px=self._lease_ms)
                await self._renew()
                if rounds % 3 == 0:
                    await self._resync()
            except RedisError as error:
                logger.warning("could not renew this node's leases in Redis: %s", error)

    async def _renew(self) -> None:
        for held in list(self._held.values()):
            if held.epoch is None and held.claim is not None and held.claim.done():
                held.claim = self._spawn(self._claim(held), f"claim-{held.connection.id}")
        claimed = [h for h in self._held.values() if h.epoch is not None]
        for start in range(0, len(claimed), _RENEW_BATCH):
            batch = claimed[start : start + _RENEW_BATCH]
            lost = await self._renew_script(
                keys=[self._charger_key(h.connection.id) for h in batch],
                args=[
                    self._lease_ms,
                    *(Owner(self.node_id, h.epoch or 0).value() for h in batch),
                ],
            )
            for index in lost:
                self._lose(batch[int(index) - 1])

    async def _resync(self) -> None:
        """Rebuild the view of other nodes' chargers from the keys (drops dead nodes')."""
        started = int(await self._redis.get(self._epoch_key) or 0)
        key_prefix = self._charger_key("")
        pattern = _GLOB_SPECIAL.sub(r"\\\1", key_prefix) + "*"
        seen: dict[str, Owner] = {}
        keys: list[str] = []
        async for key in self._redis.scan_iter(match=pattern, count=1000):
            keys.append(key)
            if len(keys) >= 1000:
                await self._read_owners(keys, key_prefix, seen)
                keys = []
        if keys:
            await self._read_owners(keys, key_prefix, seen)
        for charge_point_id, owner in self._elsewhere.items():
            # News newer than the scan wins over what the scan read.
            if owner.epoch > started and (
                charge_point_id not in seen or seen[charge_point_id].epoch < owner.epoch
            ):
                seen[charge_point_id] = owner
        self._elsewhere = seen

    async def _read_owners(self, keys: list[str], key_prefix: str, seen: dict[str, Owner]) -> None:
        for key, value in zip(keys, await self._redis.mget(keys), strict=True):
            owner = Owner.parse(_text(value))
            if owner is not None and owner.node != self.node_id:
                seen[key[len(key_prefix) :]] = owner

    # -------------------------------------------------------------- messages

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                async for message in self._pubsub.listen():
                    if message["type"] == "message":
                        self._dispatch(message["channel"], message["data"])
                    elif message["type"] == "subscribe":
                        # Resubscribed after a lost connection: news may have been missed.
                        self._spawn(self._resync(), "cluster-resync")
            except RedisError as error:
                logger.warning("lost the cluster's Redis channel (%s); reconnecting", error)
                await asyncio.sleep(1)

    def _dispatch(self, channel: str, data: str) -> None:
        if channel == self._ownership:
            news = OwnershipNews.parse(data)
            if news is not None:
                self._on_news(news)
            return
        message = wire.decode(data)
        if isinstance(message, CommandReply):
            future = self._pending.get(message.request_id)
            if future is not None and not future.done():
                future.set_result(message)
        elif isinstance(message, CommandRequest):
            self._spawn(self._serve(message), f"remote-{message.action}")
        else:
            logger.warning("unreadable cluster message dropped: %.200s", data)

    async def _serve(self, request: CommandRequest) -> None:
        """Run a command from another node on our charger, and send back what happened."""
        assert self._local is not None
        async with self.in_flight():
            try:
                result = await self._local.send(
                    request.charge_point_id, request.action, request.payload
                )
                reply = CommandReply(request.request_id, result=result)
            except CentralSystemError as error:
                reply = CommandReply(request.request_id, error=wire.error_to_wire(error))
            except Exception as error:
                logger.exception("command %s from node %s failed", request.action, request.reply_to)
                reply = CommandReply(request.request_id, error=wire.error_to_wire(error))
            try:
                await self._redis.publish(self._inbox(request.reply_to), wire.encode(reply))
            except RedisError as error:
                logger.warning(
                    "the answer to %s for node %s was lost (%s)",
                    request.action,
                    request.reply_to,
                    error,
                )

    async def request(
        self, owner: Owner, charge_point_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """Have the owning node send the command; its answer, or the same error as there."""
        request_id = uuid.uuid4().hex
        reply: asyncio.Future[CommandReply] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = reply
        try:
            receivers = await self._redis.publish(
                self._inbox(owner.node),
                wire.encode(
                    CommandRequest(request_id, self.node_id, charge_point_id, action, payload)
                ),
            )
            if receivers == 0:  # its node is gone: nothing was sent to the charger
                raise ChargerNotConnected(charge_point_id)
            answer = await self._wait(reply, owner, charge_point_id, action)
        finally:
            self._pending.pop(request_id, None)
        if answer.error is not None:
            raise wire.error_from_wire(answer.error)
        return answer.result or {}

    async def _wait(
        self,
        reply: asyncio.Future[CommandReply],
        owner: Owner,
        charge_point_id: str,
        action: str,
    ) -> CommandReply:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._longest_wait
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CommandTimeout(action, self._response_timeout)
            done, _ = await asyncio.wait({reply}, timeout=min(remaining, self._lease / 3))
            if done:
                return reply.result()
            with contextlib.suppress(RedisError):
                if not await self._redis.exists(self._node_key(owner.node)):
                    # The node died with the charger's socket; the command may have reached it.
                    raise ChargerDisconnected(charge_point_id)

    # ------------------------------------------------------------------- jobs

    async def take_job(self, name: str, period: float) -> bool:
        """True on the one node that runs ``name`` this period.

        Without Redis every node runs it: the jobs are safe to run twice, the lease
        only saves the work.
        """
        try:
            taken = await self._redis.set(
                f"{self._prefix}job:{name}",
                self.node_id,
                nx=True,
                px=max(1, round(period * 1000)),
            )
        except RedisError as error:
            logger.warning("job lease %s not reachable (%s); running it here", name, error)
            return True
        return bool(taken)

    # ------------------------------------------------------------------ upkeep

    @contextlib.asynccontextmanager
    async def in_flight(self) -> AsyncIterator[None]:
        """Count a command running on this node (draining waits for none to run)."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
