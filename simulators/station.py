"""A simulated charger at run time: the connection, the boot, the message queue.

``Station`` owns the pure charger (``charger.py``), its configuration, cache and
queue, and outlives its connections. While the network is up it connects, offers
``ocpp1.6``, boots (waiting out Pending and Rejected for the ``interval`` it was
given), reports every connector's status, then delivers its queue one call at a
time, sending a Heartbeat whenever it has been quiet for ``HeartbeatInterval``.
When the connection goes it keeps charging and queueing, and reconnects after an
exponential backoff with jitter.

Drivers (the prompt, scenarios, the fleet) act on it through ``plug``,
``present``, ``unplug``... and see what happens in ``recorder``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from ocpp.exceptions import OCPPError
from ocpp.v16 import call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.typing import Subprotocol

from simulators.auth_cache import AuthorizationCache, IdTagInfo
from simulators.charge_point import SimulatedChargePoint
from simulators.charger import Charger, Effect, Identity, Note, Queue, Quirks, Send, Show
from simulators.clock import Clock, system_clock
from simulators.config_store import ConfigStore
from simulators.connection import SUBPROTOCOL, Endpoint, backoff_delay
from simulators.observations import Recorder
from simulators.offline_queue import OfflineQueue, Outgoing

logger = logging.getLogger(__name__)


class CallStats(Protocol):
    """Where round trips are counted (the fleet's summary)."""

    def answered(self, action: str, seconds: float) -> None: ...

    def failed(self, action: str, kind: str) -> None: ...


@dataclass(frozen=True, slots=True)
class StationSettings:
    charge_point_id: str
    url: str = "ws://127.0.0.1:9000/ocpp"
    connectors: int = 1
    identity: Identity = field(default_factory=Identity)
    password: bytes | None = None
    ca_file: Path | None = None
    power_w: float = 11_000.0
    meter_start_wh: float = 0.0
    config: Mapping[str, str] = field(default_factory=dict)
    display_vendors: tuple[str, ...] = ()
    quirks: Quirks = field(default_factory=Quirks)
    response_timeout: float = 30.0
    open_timeout: float = 10.0
    reconnect_base: float = 1.0
    reconnect_cap: float = 60.0
    #: Seconds to wait after Pending/Rejected when the central system gives interval 0.
    boot_retry: float = 60.0
    tick_interval: float = 1.0
    cache_capacity: int = 100
    queue_limit: int = 1000
    #: How long a soft reset waits for the queue to empty before rebooting.
    reset_grace: float = 10.0
    keep_observations: int | None = 10_000


async def _until_set(event: asyncio.Event, seconds: float | None) -> None:
    """Wait for ``event``, at most ``seconds``."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


async def cancel_all(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel and wait until every task is done.

    Cancelled again for as long as it takes: on Python 3.11 ``asyncio.wait_for``
    (which the ocpp library waits for answers with) swallows a cancellation that
    arrives as the awaited answer does.
    """
    pending = [task for task in tasks if not task.done()]
    while pending:
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=0.5)
        pending = [task for task in pending if not task.done()]


def _result_dict(result: Any) -> dict[str, Any]:
    payload: dict[str, Any] = dataclasses.asdict(result)
    return payload


class Station:
    def __init__(
        self,
        settings: StationSettings,
        *,
        clock: Clock = system_clock,
        stats: CallStats | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._stats = stats
        self._rng = rng or random.Random()
        self.recorder = Recorder(keep=settings.keep_observations)
        self.config = ConfigStore.standard(
            connectors=settings.connectors, overrides=settings.config
        )
        self.cache = AuthorizationCache(settings.cache_capacity)
        self.queue = OfflineQueue(limit=settings.queue_limit)
        self.charger = Charger(
            connectors=settings.connectors,
            config=self.config,
            cache=self.cache,
            now=clock(),
            power_w=settings.power_w,
            meter_start_wh=settings.meter_start_wh,
            identity=settings.identity,
            quirks=settings.quirks,
        )
        self.display_vendors: tuple[str, ...] = settings.display_vendors
        self.display: list[tuple[datetime, str]] = []
        self.registration: str | None = None
        self.endpoint = Endpoint(
            settings.url,
            settings.charge_point_id,
            password=settings.password,
            ca_file=settings.ca_file,
            open_timeout=settings.open_timeout,
        )
        self._password = settings.password
        self._network_up = asyncio.Event()
        self._network_up.set()
        self._interrupt = asyncio.Event()
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._registered = asyncio.Event()
        self._session_end: asyncio.Event | None = None
        self._started = False
        self._closing = False
        self._reboot: bool | None = None
        self._last_sent = time.monotonic()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def id(self) -> str:
        return self.settings.charge_point_id

    @property
    def online(self) -> bool:
        return self.charger.online

    def now(self) -> datetime:
        return self._clock()

    # -------------------------------------------------------------- lifecycle

    async def __aenter__(self) -> Station:
        self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def start(self) -> None:
        """Power on: connect (and keep reconnecting) and let time pass. Idempotent."""
        if self._started:
            return
        self._started = True
        self._spawn(self._connection_loop(), "connection")
        self._spawn(self._tick_loop(), "meter")

    async def close(self) -> None:
        self._closing = True
        self._interrupt.set()
        self._network_up.set()
        if self._session_end is not None:
            self._session_end.set()
        await cancel_all(list(self._tasks))

    def _spawn(self, coroutine: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine, name=f"{name}-{self.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # ------------------------------------------------------------ driver side

    def plug(self, connector_id: int) -> None:
        self.apply(self.charger.plug(connector_id, self.now()))

    def unplug(self, connector_id: int) -> None:
        self.apply(self.charger.unplug(connector_id, self.now()))

    def present(self, id_tag: str, connector_id: int | None = None) -> None:
        self.apply(self.charger.present(id_tag, connector_id, self.now()))

    def stop(self, connector_id: int) -> None:
        self.apply(self.charger.stop_button(connector_id, self.now()))

    def fault(self, connector_id: int, error_code: str = "OtherError") -> None:
        self.apply(self.charger.fault(connector_id, error_code, self.now()))

    def clear_fault(self, connector_id: int) -> None:
        self.apply(self.charger.clear_fault(connector_id, self.now()))

    def sample(self, connector_id: int) -> None:
        self.apply(self.charger.sample(connector_id, self.now()))

    def go_offline(self) -> None:
        """The network goes: the connection drops and is not tried again until online."""
        self._network_up.clear()
        self._interrupt.set()
        if self._session_end is not None:
            self._session_end.set()

    def go_online(self) -> None:
        self._network_up.set()
        self._interrupt.set()

    async def wait_registered(self) -> None:
        """Until the central system accepted the BootNotification (bound it with a timeout)."""
        await self._registered.wait()

    async def wait_delivered(self) -> None:
        """Until every queued message has been answered (bound it with a timeout)."""
        await self._drained.wait()

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "online": self.online,
            "registration": self.registration,
            "connectors": [dataclasses.asdict(view) for view in self.charger.views()],
            "reservations": [dataclasses.asdict(r) for r in self.charger.reservations()],
            "queued": len(self.queue),
            "queued_transaction_messages": self.queue.durable_count,
            "cache": {tag: info.status for tag, info in self.cache.entries().items()},
            "display": self.display[-1][1] if self.display else None,
        }

    # ------------------------------------------------------------- Device side

    def apply(self, effects: Sequence[Effect]) -> None:
        pushed = False
        for effect in effects:
            if isinstance(effect, Send):
                if self.charger.online:
                    self.queue.push(Outgoing(effect.action, effect.payload))
                    pushed = True
            elif isinstance(effect, Queue):
                dropped = self.queue.push(
                    Outgoing(
                        effect.action,
                        effect.payload,
                        transaction_ref=effect.transaction_ref,
                        durable=True,
                    )
                )
                pushed = True
                if dropped is not None:
                    self._error("queue_full", f"dropped a {dropped.action} to make room")
            elif isinstance(effect, Show):
                self.display.append((self.now(), effect.text))
                logger.info("%s display: %s", self.id, effect.text)
                self.recorder.add("display", {"text": effect.text})
            elif isinstance(effect, Note):
                self.recorder.add(effect.kind, effect.data)
        if pushed:
            self._drained.clear()
            self._wake.set()

    def request_reboot(self, *, hard: bool) -> None:
        self._reboot = hard
        self.recorder.add("rebooting", {"hard": hard})
        self._spawn(self._reboot_after_queue(hard), "reboot")

    def password_changed(self, password: bytes) -> None:
        self._password = password
        self.recorder.add("password_changed", {})

    async def _reboot_after_queue(self, hard: bool) -> None:
        if not hard:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.reset_grace):
                    await self.wait_delivered()
        if self._session_end is not None:
            self._session_end.set()

    # ------------------------------------------------------------- connection

    def _error(self, kind: str, detail: object, *, counted: bool = False) -> None:
        """Log and record a failure; ``counted``: the call statistics have it already."""
        logger.warning("%s %s: %s", self.id, kind, detail)
        self.recorder.add("error", {"kind": kind, "detail": str(detail)})
        if self._stats is not None and not counted:
            cause = type(detail).__name__ if isinstance(detail, BaseException) else "-"
            self._stats.failed(kind, cause)

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless the network changes or the station closes first."""
        self._interrupt.clear()
        await _until_set(self._interrupt, seconds)

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.tick_interval)
            self.apply(self.charger.tick(self.now()))

    async def _connection_loop(self) -> None:
        attempt = 0
        while not self._closing:
            await self._network_up.wait()
            if self._closing:
                return
            connected = False
            try:
                connected = await self._connect_and_serve()
            except (OSError, TimeoutError, WebSocketException) as error:
                self._error("connect", error)
            if self._closing:
                return
            if self._reboot is not None:
                self._reboot = None
                self.apply(self.charger.rebooted(self.now()))
                attempt = 0
                continue
            if not self._network_up.is_set():
                continue
            delay = backoff_delay(
                0 if connected else attempt,
                base=self.settings.reconnect_base,
                cap=self.settings.reconnect_cap,
                rng=self._rng,
            )
            attempt = 0 if connected else attempt + 1
            self.recorder.add("reconnecting", {"in_seconds": round(delay, 2)})
            await self._pause(delay)

    async def _connect_and_serve(self) -> bool:
        ping = self.config.number("WebSocketPingInterval")
        self.recorder.add("connecting", {"url": self.endpoint.address})
        async with connect(
            self.endpoint.address,
            subprotocols=[Subprotocol(SUBPROTOCOL)],
            additional_headers=self.endpoint.headers(self._password),
            ssl=self.endpoint.ssl_context(),
            open_timeout=self.settings.open_timeout,
            ping_interval=ping if ping > 0 else None,
            ping_timeout=ping if ping > 0 else None,
            compression=None,
            max_size=1024 * 1024,
        ) as connection:
            if connection.subprotocol != SUBPROTOCOL:
                self._error("subprotocol", f"the server did not select {SUBPROTOCOL}")
                await connection.close(1002, f"{SUBPROTOCOL} is required")
                return False
            await self._session(connection)
            return True

    async def _session(self, connection: ClientConnection) -> None:
        charge_point = SimulatedChargePoint(
            self, self.id, connection, response_timeout=self.settings.response_timeout
        )
        self._session_end = ending = asyncio.Event()
        self.recorder.add("connected", {"url": self.endpoint.address})
        receiver = asyncio.create_task(self._receive(charge_point))
        worker = asyncio.create_task(self._work(charge_point))
        ender = asyncio.create_task(ending.wait())
        try:
            done, _ = await asyncio.wait(
                {receiver, worker, ender}, return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task.cancelled():
                    continue
                error = task.exception()
                if error is not None and not isinstance(error, ConnectionClosed):
                    self._error("session", error)
        finally:
            await cancel_all([receiver, worker, ender])
            self._session_end = None
            self._went_offline()
            await connection.close()
            self.recorder.add("disconnected", {"code": connection.close_code})

    async def _receive(self, charge_point: SimulatedChargePoint) -> None:
        with contextlib.suppress(ConnectionClosed):
            await charge_point.start()

    def _went_offline(self) -> None:
        self._registered.clear()
        was_online = self.charger.online
        self.charger.set_online(False)
        now = self.now()
        for item in self.queue.drop_transient():
            if item.action == "Authorize":
                self.apply(self.charger.authorize_answered(item.payload["id_tag"], None, now))
        if not self.queue:
            self._drained.set()
        if was_online:
            self.recorder.add("offline", {"queued": self.queue.durable_count})

    async def _call(
        self, charge_point: SimulatedChargePoint, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        request = getattr(call, action)(**payload)
        started = time.perf_counter()
        self._last_sent = time.monotonic()
        try:
            result = await charge_point.call(request, suppress=False)
        except OCPPError as error:
            if self._stats is not None:
                self._stats.failed(action, error.code)
            raise
        except TimeoutError:
            if self._stats is not None:
                self._stats.failed(action, "timeout")
            raise
        if self._stats is not None:
            self._stats.answered(action, time.perf_counter() - started)
        return _result_dict(result)

    async def _work(self, charge_point: SimulatedChargePoint) -> None:
        if not await self._boot(charge_point):
            return
        self.charger.set_online(True)
        self._registered.set()
        self.recorder.add("online", {"queued": self.queue.durable_count})
        self.apply(self.charger.status_report(self.now()))
        await self._deliver(charge_point)

    async def _boot(self, charge_point: SimulatedChargePoint) -> bool:
        while True:
            try:
                result = await self._call(
                    charge_point, "BootNotification", self.charger.boot_payload()
                )
            except (OCPPError, TimeoutError) as error:
                self._error("boot", error, counted=True)
                return False
            if self._registered_as(result):
                return True
            interval = int(result.get("interval") or 0)
            await asyncio.sleep(interval if interval > 0 else self.settings.boot_retry)

    def _registered_as(self, result: Mapping[str, Any]) -> bool:
        status = str(result.get("status"))
        interval = int(result.get("interval") or 0)
        self.registration = status
        self.recorder.add("registration", {"status": status, "interval": interval})
        if status == "Accepted" and interval > 0:
            self.config.set_locally("HeartbeatInterval", str(interval))
        return status == "Accepted"

    async def _deliver(self, charge_point: SimulatedChargePoint) -> None:
        """Send the queue in order, one call at a time; Heartbeat when quiet."""
        while True:
            self._wake.clear()
            item = self.queue.head()
            now = time.monotonic()
            if item is not None and item.not_before > now:
                # A transaction message waits for its retry; nothing may overtake it.
                await _until_set(self._wake, item.not_before - now)
                continue
            if item is None:
                heartbeat = self.config.number("HeartbeatInterval")
                quiet_left = self._last_sent + heartbeat - now if heartbeat > 0 else None
                if quiet_left is not None and quiet_left <= 0:
                    self.apply([Send("Heartbeat", {})])
                    continue
                await _until_set(self._wake, quiet_left)
                continue
            payload = self.queue.payload_of(item)
            if payload is None:
                self.queue.pop(item)
                self._error("undeliverable", f"{item.action} of a transaction that has no id")
                continue
            try:
                result = await self._call(charge_point, item.action, payload)
            except (OCPPError, TimeoutError) as error:
                self._delivery_failed(item, error)
                continue
            self.queue.pop(item)
            self._delivered(item, result)
            if not self.queue:
                self._drained.set()

    def _delivered(self, item: Outgoing, result: dict[str, Any]) -> None:
        now = self.now()
        self.recorder.add(
            "answered", {"action": item.action, "transaction_ref": item.transaction_ref}
        )
        ref = item.transaction_ref
        if item.action == "Authorize":
            info = IdTagInfo.from_payload(result["id_tag_info"])
            self.apply(self.charger.authorize_answered(item.payload["id_tag"], info, now))
        elif item.action == "StartTransaction" and ref is not None:
            transaction_id = int(result["transaction_id"])
            self.queue.resolve(ref, transaction_id)
            info = IdTagInfo.from_payload(result["id_tag_info"])
            self.apply(self.charger.start_answered(ref, transaction_id, info, now))
        elif item.action == "StopTransaction" and ref is not None:
            raw = result.get("id_tag_info")
            info_or_none = IdTagInfo.from_payload(raw) if isinstance(raw, Mapping) else None
            self.apply(self.charger.stop_answered(ref, info_or_none, now))
            self.queue.forget(ref)
        elif item.action == "BootNotification":
            self._registered_as(result)

    def _delivery_failed(self, item: Outgoing, error: Exception) -> None:
        detail = error.code if isinstance(error, OCPPError) else "no answer in time"
        self._error("call_failed", f"{item.action}: {detail}", counted=True)
        gave_up = self.queue.failed(
            item,
            time.monotonic(),
            max_attempts=self.config.number("TransactionMessageAttempts"),
            retry_interval=self.config.number("TransactionMessageRetryInterval"),
        )
        if not gave_up:
            return
        if item.durable:
            self.recorder.add("dropped", {"action": item.action, "attempts": item.attempts})
        now = self.now()
        if item.action == "Authorize":
            self.apply(self.charger.authorize_answered(item.payload["id_tag"], None, now))
        elif item.action == "StartTransaction" and item.transaction_ref is not None:
            self.apply(self.charger.start_failed(item.transaction_ref, now))
        if not self.queue:
            self._drained.set()
