"""Assembles the running system from ``Settings``: the composition root's body.

``python -m central_system`` and the end-to-end tests both start a system this way,
so what is tested is what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Generator
from datetime import timedelta

import uvicorn
from argon2 import PasswordHasher
from pydantic import SecretStr
from sqlalchemy import text
from websockets.asyncio.server import ServerConnection

from central_system.accounts import OwnerAccounts
from central_system.administration import GarageAdministration
from central_system.charger_security import ChargerCredentials, KeyHasher, SecurityNotices
from central_system.clock import SystemClock
from central_system.cluster import (
    ClusterCommands,
    ClusterMessageLog,
    ClusterNode,
    upgrade_exclusively,
)
from central_system.config import ReminderModel, Settings
from central_system.observability import Metrics
from central_system.owner_desk import OwnerDesk
from central_system.persistence import migrations
from central_system.persistence.db import Database, create_database
from central_system.persistence.unit_of_work import (
    GroupUnitOfWorkFactory,
    SqlAlchemyUnitOfWorkFactory,
)
from central_system.persistence.writer import SqliteWriter
from central_system.ports import ChargerCommands, Clock, run_here
from central_system.reservations import Garage, ReservationLimits
from central_system.services import ChargerSessions, Operations
from central_system.transport import validation
from central_system.transport.charge_point import CentralChargePoint
from central_system.transport.charger_sync import ChargerSync
from central_system.transport.registry import ConnectedChargers, ConnectionRegistry
from central_system.transport.reminders import DisplayStyle, Reminders
from central_system.transport.security import (
    AuthThrottle,
    HandshakeSecurity,
    WhitepaperServices,
)
from central_system.transport.server import OcppServer
from central_system.transport.tls import CertificateAuthority, server_context
from owner_api.app import create_app
from owner_api.context import ApiContext, ApiLimits

logger = logging.getLogger(__name__)


def _display_style(settings: Settings, custom: ReminderModel | None) -> DisplayStyle:
    custom = custom or ReminderModel()
    return DisplayStyle(
        enabled=custom.enabled,
        vendor_id=custom.vendor_id or settings.reminder_vendor_id,
        message_id=custom.message_id or settings.reminder_message_id,
        language=custom.language or settings.reminder_language,
    )


def _server_tls(settings: Settings) -> ssl.SSLContext:
    assert settings.tls_cert_file is not None
    assert settings.tls_key_file is not None
    return server_context(
        certificate_file=settings.tls_cert_file,
        key_file=settings.tls_key_file,
        key_password=_secret(settings.tls_key_password),
        client_ca_file=settings.tls_client_ca_file,
        require_client_certificate=settings.tls_require_client_certificate,
        ciphers=settings.tls_ciphers,
    )


def _signing_authority(settings: Settings) -> CertificateAuthority | None:
    if settings.signing_ca_cert_file is None or settings.signing_ca_key_file is None:
        return None
    return CertificateAuthority.from_files(
        settings.signing_ca_cert_file,
        settings.signing_ca_key_file,
        key_password=_secret(settings.signing_ca_key_password),
        days=settings.signed_certificate_days,
        organization=settings.tls_client_organization,
        certificate_name=settings.tls_client_certificate_name,
    )


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


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
        #: On SQLite, the thread that writes what chargers send, in group commits.
        self.writer = (
            SqliteWriter(settings.database_url.get_secret_value())
            if settings.sqlite_path() is not None
            else None
        )
        self.metrics = Metrics()
        self.sessions = ChargerSessions(
            uow=self.uow
            if self.writer is None
            else GroupUnitOfWorkFactory(self.writer, self.clock),
            run=run_here if self.writer is None else self.writer,
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
        #: This process as a cluster node (``redis_url`` set), or None for a single process.
        self.cluster = ClusterNode.from_settings(settings)
        self.message_log = ClusterMessageLog(
            self.database,
            self.clock,
            node=self.cluster,
            batch_size=settings.message_log_batch,
            queue_size=settings.message_log_queue,
            retention=timedelta(days=settings.message_log_retention_days),
            writer=self.writer,
        )
        self.registry = ConnectionRegistry(listener=self.cluster)
        self.commands: ChargerCommands = ConnectedChargers(self.registry)
        if self.cluster is not None:
            self.cluster.attach(self.commands)
            self.commands = ClusterCommands(self.cluster, self.commands)
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
        self.accounts = OwnerAccounts(
            uow=self.uow,
            clock=self.clock,
            token_lifetime=timedelta(hours=settings.owner_token_hours),
            hasher=PasswordHasher(
                time_cost=settings.password_time_cost, memory_cost=settings.password_memory_kib
            ),
        )
        self.administration = GarageAdministration(uow=self.uow, clock=self.clock)
        self.charger_credentials = ChargerCredentials(
            uow=self.uow,
            clock=self.clock,
            commands=self.commands,
            hasher=KeyHasher(concurrency=settings.charger_auth_concurrency),
            remember_seconds=settings.charger_auth_remember_seconds,
            raise_profile_on_connect=settings.raise_security_profile_on_connect,
            lookup=self.sessions.security,
        )
        self.whitepaper = WhitepaperServices(
            notices=SecurityNotices(uow=self.uow, clock=self.clock),
            credentials=self.charger_credentials,
            authority=_signing_authority(settings),
        )
        handshake_security = HandshakeSecurity(
            credentials=self.charger_credentials,
            throttle=AuthThrottle(
                limit=settings.charger_auth_failures, window=settings.charger_auth_window_seconds
            ),
            certificate_name=settings.tls_client_certificate_name,
            organization=settings.tls_client_organization,
        )
        self.ocpp = self._ocpp_server(settings, handshake_security, None)
        #: The wss:// listener (profiles 2 and 3), when ``ocpp_tls_port`` is set.
        self.ocpp_tls = (
            None
            if settings.ocpp_tls_port is None
            else self._ocpp_server(settings, handshake_security, _server_tls(settings))
        )
        self.app = create_app(
            ApiContext(
                operations=self.operations,
                commands=self.commands,
                operator_token=operator_token,
                metrics=self.metrics,
                readiness={
                    "database": self._database_ready,
                    "ocpp": self._ocpp_ready,
                    **({} if self.cluster is None else {"redis": self.cluster.ready}),
                },
                owner_desk=self.owner_desk,
                accounts=self.accounts,
                administration=self.administration,
                clock=self.clock,
                limits=ApiLimits(
                    rate_per_second=settings.api_rate_per_second,
                    burst=settings.api_burst,
                    max_body_bytes=settings.api_max_body_bytes,
                    login_failures_per_login=settings.login_failures_per_login,
                    login_attempts_per_address=settings.login_attempts_per_address,
                    login_window_seconds=settings.login_window_seconds,
                ),
                charger_credentials=self.charger_credentials,
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
            security=self.whitepaper,
        )

    def _ocpp_server(
        self,
        settings: Settings,
        security: HandshakeSecurity,
        ssl_context: ssl.SSLContext | None,
    ) -> OcppServer:
        return OcppServer(
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
            ssl_context=ssl_context,
            security=security,
            reuse_port=settings.reuse_port,
        )

    async def _database_ready(self) -> bool:
        async with self.database.read_engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True

    async def _ocpp_ready(self) -> bool:
        listeners = [self.ocpp] if self.settings.ocpp_plain_enabled else []
        if self.ocpp_tls is not None:
            listeners.append(self.ocpp_tls)
        return all(listener.listening for listener in listeners)

    async def prepare(self) -> None:
        """Migrate the schema and load the OCPP schemas; nothing listens yet."""
        if self._prepared:
            return
        path = self.settings.sqlite_path()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        if self.cluster is None:
            await migrations.upgrade(self.database.write_engine)
        else:
            await upgrade_exclusively(self.database.write_engine, self.settings.database_schema)
        await asyncio.to_thread(validation.preload)
        if self.writer is not None:
            self.writer.start()
        self._prepared = True

    async def start(self) -> None:
        await self.prepare()
        if self.cluster is not None:
            await self.cluster.start()
        self.message_log.start()
        self._ticker = asyncio.create_task(self._tick_forever(), name="reservation-ticker")
        if self.settings.ocpp_plain_enabled:
            await self.ocpp.start(self.settings.host, self.settings.ocpp_port)
        if self.ocpp_tls is not None:
            assert self.settings.ocpp_tls_port is not None
            await self.ocpp_tls.start(self.settings.host, self.settings.ocpp_tls_port)
        await self._start_api()

    async def _start_api(self) -> None:
        family = socket.AF_INET6 if ":" in self.settings.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.settings.reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
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
    def ocpp_tls_port(self) -> int:
        assert self.ocpp_tls is not None
        return self.ocpp_tls.port

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
                if self.cluster is None or await self.cluster.take_job(
                    "reservation-life-cycle", self.settings.reservation_tick_seconds
                ):
                    await self.tick()
            except Exception:
                logger.exception("reservation life cycle step failed")
            await asyncio.sleep(self.settings.reservation_tick_seconds)

    async def drain(self) -> None:
        """Take no more chargers; give commands in flight ``drain_seconds`` to finish.

        ``stop()`` then closes the chargers' sockets (1001, going away), so they
        reconnect to another node; /readyz answers 503 from the start of the drain.
        """
        self.ocpp.stop_accepting()
        if self.ocpp_tls is not None:
            self.ocpp_tls.stop_accepting()
        if self.cluster is not None:
            await self.cluster.drain(self.settings.drain_seconds)

    async def stop(self) -> None:
        """Close sockets, let sessions finish, write what is pending, release the DB.

        Also releases a system that was only prepared."""
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        await self.ocpp.close()
        if self.ocpp_tls is not None:
            await self.ocpp_tls.close()
        if self._api_server is not None and self._api_task is not None:
            self._api_server.should_exit = True
            await asyncio.gather(self._api_task, return_exceptions=True)
        if self._api_socket is not None:
            self._api_socket.close()
        await self.message_log.stop()
        if self.writer is not None:
            await self.writer.stop()
        if self.cluster is not None:
            await self.cluster.stop()
        await self.database.dispose()
