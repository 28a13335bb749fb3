"""Assembles the running system from ``Settings``: the composition root's body.

``python -m central_system`` and the end-to-end tests both start a system this way,
so what is tested is what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Generator
from datetime import timedelta

import uvicorn
from sqlalchemy import text
from websockets.asyncio.server import ServerConnection

from central_system.clock import SystemClock
from central_system.config import ReminderModel, Settings
from central_system.observability import Metrics
from central_system.owner_desk import OwnerDesk
from central_system.persistence import migrations
from central_system.persistence.db import Database, create_database
from central_system.persistence.message_log import MessageLog
from central_system.persistence.unit_of_work import SqlAlchemyUnitOfWorkFactory
from central_system.ports import Clock
from central_system.reservations import Garage, ReservationLimits
from central_system.services import ChargerSessions, Operations
from central_system.transport import validation
from central_system.transport.charge_point import CentralChargePoint
from central_system.transport.charger_sync import ChargerSync
from central_system.transport.registry import ConnectedChargers, ConnectionRegistry
from central_system.transport.reminders import DisplayStyle, Reminders
from central_system.transport.server import OcppServer
from owner_api.app import create_app
from owner_api.context import ApiContext

logger = logging.getLogger(__name__)


def _display_style(settings: Settings, custom: ReminderModel | None) -> DisplayStyle:
    custom = custom or ReminderModel()
    return DisplayStyle(
        enabled=custom.enabled,
        vendor_id=custom.vendor_id or settings.reminder_vendor_id,
        message_id=custom.message_id or settings.reminder_message_id,
        language=custom.language or settings.reminder_language,
    )


class _EmbeddedUvicorn(uvicorn.Server):
    """uvicorn inside our loop: signals belong to the process, not to uvicorn."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class CentralSystem:
    """The OCPP endpoint, the HTTP API and what they share, started and stopped together."""

    def __init__(self, settings: Settings, *, operator_token: str, clock: Clock | None = None):
        self.settings = settings
        self.clock = clock or SystemClock()
        self.database: Database = create_database(
            settings.database_url.get_secret_value(),
            pool_size=settings.database_pool_size,
            schema=settings.database_schema,
        )
        self.uow = SqlAlchemyUnitOfWorkFactory(self.database, self.clock)
        self.metrics = Metrics()
        self.sessions = ChargerSessions(
            uow=self.uow,
            clock=self.clock,
            heartbeat_interval=settings.heartbeat_interval,
            boot_retry_interval=settings.boot_retry_interval,
            unknown_chargers=settings.unknown_chargers,
            charging_policy=settings.charging_policy,
        )
        self.garage = Garage(
            uow=self.uow,
            clock=self.clock,
            limits=ReservationLimits(
                max_live_per_owner=settings.max_live_reservations,
                max_window=timedelta(hours=settings.max_reservation_hours),
                arrival_grace=timedelta(minutes=settings.arrival_grace_minutes),
            ),
        )
        self.reminders = Reminders(
            default=_display_style(settings, None),
            by_model={
                model: _display_style(settings, custom)
                for model, custom in settings.reminder_models.items()
            },
            events=self.sessions,
            clock=self.clock,
        )
        self.operations = Operations(uow=self.uow, clock=self.clock)
        self.message_log = MessageLog(
            self.database,
            self.clock,
            batch_size=settings.message_log_batch,
            queue_size=settings.message_log_queue,
            retention=timedelta(days=settings.message_log_retention_days),
        )
        self.registry = ConnectionRegistry()
        self.commands = ConnectedChargers(self.registry)
        self.sync = ChargerSync(
            commands=self.commands, sessions=self.sessions, garage=self.garage, clock=self.clock
        )
        self.owner_desk = OwnerDesk(
            uow=self.uow,
            clock=self.clock,
            garage=self.garage,
            commands=self.commands,
            on_transition=self.sync.on_transition,
            advance=self.tick,
        )
        self.ocpp = OcppServer(
            sessions=self.sessions,
            registry=self.registry,
            metrics=self.metrics,
            charge_point_factory=self._charge_point,
            path_prefix=settings.ocpp_path_prefix,
            max_frame_bytes=settings.ws_max_frame_bytes,
            open_timeout=settings.ws_open_timeout,
            ping_interval=settings.ws_ping_interval,
            ping_timeout=settings.ws_ping_timeout,
            allow_missing_subprotocol=settings.allow_missing_subprotocol,
        )
        self.app = create_app(
            ApiContext(
                operations=self.operations,
                commands=self.commands,
                operator_token=operator_token,
                metrics=self.metrics,
                readiness={"database": self._database_ready, "ocpp": self._ocpp_ready},
            )
        )
        self._api_socket: socket.socket | None = None
        self._api_server: uvicorn.Server | None = None
        self._api_task: asyncio.Task[None] | None = None
        self._prepared = False
        self._ticker: asyncio.Task[None] | None = None

    def _charge_point(
        self, charge_point_id: str, connection: ServerConnection
    ) -> CentralChargePoint:
        return CentralChargePoint(
            charge_point_id,
            connection,
            sessions=self.sessions,
            message_log=self.message_log,
            metrics=self.metrics,
            clock=self.clock,
            response_timeout=self.settings.ocpp_response_timeout,
            inbox_size=self.settings.ws_inbox_size,
            command_queue_limit=self.settings.ocpp_command_queue,
            reminders=self.reminders,
            sync=self.sync if self.settings.configure_at_boot else None,
        )

    async def _database_ready(self) -> bool:
        async with self.database.read_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    async def _ocpp_ready(self) -> bool:
        return self.ocpp.listening

    async def prepare(self) -> None:
        """Migrate the schema and load the OCPP schemas; nothing listens yet."""
        if self._prepared:
            return
        path = self.settings.sqlite_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        await migrations.upgrade(self.database.write_engine)
        await asyncio.to_thread(validation.preload)
        self._prepared = True

    async def start(self) -> None:
        await self.prepare()
        self.message_log.start()
        self._ticker = asyncio.create_task(self._tick_forever(), name="reservation-ticker")
        await self.ocpp.start(self.settings.host, self.settings.ocpp_port)
        await self._start_api()

    async def _start_api(self) -> None:
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.settings.host, self.settings.api_port))
        sock.listen(128)
        sock.setblocking(False)
        self._api_socket = sock
        config = uvicorn.Config(
            self.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            limit_concurrency=1000,
            timeout_graceful_shutdown=5,
        )
        self._api_server = _EmbeddedUvicorn(config)
        self._api_task = asyncio.create_task(
            self._api_server.serve(sockets=[sock]), name="http-api"
        )

    @property
    def ocpp_port(self) -> int:
        return self.ocpp.port

    @property
    def api_port(self) -> int:
        assert self._api_socket is not None
        port: int = self._api_socket.getsockname()[1]
        return port

    async def tick(self) -> None:
        """Open, expire and close due reservations (safe to run concurrently)."""
        moved = await self.garage.advance()
        for transition in moved:
            logger.info("reservation %d is now %s", transition.reservation.id, transition.to.value)
            await self.sync.on_transition(transition)

    async def _tick_forever(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                logger.exception("reservation life cycle step failed")
            await asyncio.sleep(self.settings.reservation_tick_seconds)

    async def stop(self) -> None:
        """Close sockets, let sessions finish, write what is pending, release the DB."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self.ocpp.close()
        if self._api_server is not None and self._api_task is not None:
            self._api_server.should_exit = True
            await asyncio.gather(self._api_task, return_exceptions=True)
        if self._api_socket is not None:
            self._api_socket.close()
        await self.message_log.stop()
        await self.database.dispose()
