"""Cluster nodes as separate processes, test chargers that can wait, and seeding."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import connect

from central_system.accounts import token_digest
from central_system.domain.model import ChargePoint, IdTag, RegistrationStatus
from central_system.persistence.db import create_database
from central_system.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from tests.chargers import LibraryCharger
from tests.conftest import OPERATOR_TOKEN, POSTGRES_URL

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BANNER_TIMEOUT = 60.0


def unreachable(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def redis_ready() -> None:
    try:
        with redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3) as client:
            client.ping()
    except redis.RedisError as error:
        unreachable(f"Redis at {REDIS_URL} is not reachable: {error}")


def delete_prefix(prefix: str) -> None:
    with redis.Redis.from_url(REDIS_URL) as client:
        keys = list(client.scan_iter(match=prefix + "*", count=1000))
        if keys:
            client.delete(*keys)


@dataclass(frozen=True)
class ClusterEnv:
    """Where one test module's cluster lives: its own schema and Redis key prefix."""

    schema: str
    prefix: str
    logs: Path

    def node_args(self, node_id: str, *extra: str) -> list[str]:
        return [
            "--database-url",
            POSTGRES_URL,
            "--database-schema",
            self.schema,
            "--redis-url",
            REDIS_URL,
            "--redis-prefix",
            self.prefix,
            "--node-id",
            node_id,
            "--ocpp-port",
            "0",
            "--api-port",
            "0",
            "--operator-token",
            OPERATOR_TOKEN,
            "--unknown-chargers",
            "accept",
            "--ocpp-response-timeout",
            "3",
            "--reservation-tick-seconds",
            "0.2",
            "--ownership-lease-seconds",
            "3",
            "--drain-seconds",
            "10",
            "--api-rate-per-second",
            "10000",
            "--api-burst",
            "10000",
            *extra,
        ]


@dataclass
class Node:
    node_id: str
    process: subprocess.Popen[bytes]
    ocpp_port: int
    api_port: int
    log: Path

    def ocpp_url(self, charge_point_id: str) -> str:
        return f"ws://127.0.0.1:{self.ocpp_port}/ocpp/{charge_point_id}"

    def api(self, token: str = OPERATOR_TOKEN) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.api_port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (the node drains), and its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"node {self.node_id} did not stop on SIGTERM") from None
        finally:
            self._close_pipe()

    def wait(self, timeout: float = 30) -> int:
        """The exit code of a node that is stopping by itself."""
        try:
            return self.process.wait(timeout)
        finally:
            self._close_pipe()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        self._close_pipe()

    def _close_pipe(self) -> None:
        if self.process.stdout is not None:
            self.process.stdout.close()


def _read_banner(process: subprocess.Popen[bytes], done: Future[str]) -> None:
    assert process.stdout is not None
    banner = ""
    while "Press Ctrl-C" not in banner:
        line = process.stdout.readline()
        if not line:
            done.set_exception(AssertionError("node exited before listening"))
            return
        banner += line.decode()
    done.set_result(banner)


def start_nodes(env: ClusterEnv, *node_ids: str, extra: tuple[str, ...] = ()) -> list[Node]:
    """Start the nodes together (they migrate the schema once, under a lock) and wait."""
    started: list[tuple[str, subprocess.Popen[bytes], Path, Future[str]]] = []
    for node_id in node_ids:
        log = env.logs / f"{node_id}.log"
        with log.open("ab") as stderr:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                [sys.executable, "-m", "central_system", *env.node_args(node_id, *extra)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                cwd=env.logs,
            )
        banner: Future[str] = Future()
        threading.Thread(target=_read_banner, args=(process, banner), daemon=True).start()
        started.append((node_id, process, log, banner))
    nodes = []
    deadline = time.monotonic() + BANNER_TIMEOUT
    for node_id, process, log, banner in started:
        try:
            text = banner.result(timeout=max(0.1, deadline - time.monotonic()))
        except Exception as error:
            for _, other, _, _ in started:
                other.kill()
                other.wait()
                if other.stdout is not None:
                    other.stdout.close()
            raise AssertionError(f"{node_id}: {error}\n{log.read_text(errors='replace')}") from None
        ocpp = re.search(r"ws://127\.0\.0\.1:(\d+)/", text)
        api = re.search(r"http://127\.0\.0\.1:(\d+)/docs", text)
        assert ocpp is not None
        assert api is not None
        nodes.append(Node(node_id, process, int(ocpp.group(1)), int(api.group(1)), log))
    return nodes


async def start_nodes_async(
    env: ClusterEnv, *node_ids: str, extra: tuple[str, ...] = ()
) -> list[Node]:
    return await asyncio.to_thread(start_nodes, env, *node_ids, extra=extra)


async def eventually(
    check: Callable[[], Awaitable[bool]], *, within: float = 15.0, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds; for state nothing announces (an HTTP status, a row)."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {within:g} s")
        await asyncio.sleep(0.05)


class ClusterCharger(LibraryCharger):
    """A library charger with the Reservation profile, whose Reset answer can be held."""

    def __init__(self, charge_point_id: str, connection: Any) -> None:
        super().__init__(charge_point_id, connection)
        self.configuration["SupportedFeatureProfiles"] = ("Core,RemoteTrigger,Reservation", True)
        self.reservations: list[dict[str, Any]] = []
        self.reserved = asyncio.Event()
        #: While set to an unset event, a Reset is received but answered only once it is set.
        self.hold_reset: asyncio.Event | None = None
        self.reset_received = asyncio.Event()

    @on(Action.reserve_now)
    async def on_reserve_now(self, **payload: Any) -> call_result.ReserveNow:
        self.reservations.append(payload)
        self.reserved.set()
        return call_result.ReserveNow(status="Accepted")

    @on(Action.cancel_reservation)
    async def on_cancel_reservation(self, **payload: Any) -> call_result.CancelReservation:
        self._record("CancelReservation", payload)
        return call_result.CancelReservation(status="Accepted")

    @on(Action.reset)
    async def on_reset(self, **payload: Any) -> call_result.Reset:
        self._record("Reset", payload)
        self.reset_received.set()
        if self.hold_reset is not None:
            await self.hold_reset.wait()
        return call_result.Reset(status="Accepted")

    async def boot(self) -> None:
        await self.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))


@contextlib.asynccontextmanager
async def charger_on(node: Node, charge_point_id: str) -> AsyncIterator[ClusterCharger]:
    async with connect(node.ocpp_url(charge_point_id), subprotocols=["ocpp1.6"]) as connection:  # type: ignore[list-item]
        charger = ClusterCharger(charge_point_id, connection)
        task = asyncio.create_task(charger.start())
        try:
            yield charger
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def is_connected_on(node: Node, charge_point_id: str) -> bool:
    async with node.api() as api:
        response = await api.get(f"/api/v1/operator/charge-points/{charge_point_id}")
    return response.status_code == 200 and bool(response.json()["connected"])


# ---------------------------------------------------------------- seeding


@dataclass(frozen=True)
class Garage:
    space_id: int
    owner_ids: list[int]
    tokens: list[str]
    tags: list[str]


async def seed_garage(
    schema: str, charge_point_id: str, *, owners: int = 1, connector_id: int = 1
) -> Garage:
    """A charger, one space on it, and owners with a card and a bearer token each."""
    database = create_database(POSTGRES_URL, schema=schema)
    uow = SqlAlchemyUnitOfWorkFactory(database, _Clock())
    try:
        async with uow() as work:
            if await work.charge_points.get(charge_point_id) is None:
                await work.charge_points.add(
                    ChargePoint(id=charge_point_id, registration_status=RegistrationStatus.ACCEPTED)
                )
            space = await work.spaces.add(
                f"S-{charge_point_id}-{connector_id}", "B1", charge_point_id, connector_id
            )
            owner_ids, tokens, tags = [], [], []
            for n in range(owners):
                owner = await work.owners.add(f"Owner {charge_point_id} {n}")
                tag = f"T{owner.id:06d}"
                await work.id_tags.put(IdTag(tag, owner_id=owner.id))
                token = f"token-{charge_point_id}-{n}-{os.urandom(8).hex()}"
                await work.accounts.add_token(
                    token_digest(token), owner.id, datetime.now(UTC) + timedelta(hours=1)
                )
                owner_ids.append(owner.id)
                tokens.append(token)
                tags.append(tag)
            await work.commit()
    finally:
        await database.dispose()
    return Garage(space.id, owner_ids, tokens, tags)


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)
