"""The OCPP-J WebSocket endpoint: ``ws://host:port/<prefix>/<chargePointId>``.

The handshake decides who gets in, before anything is upgraded:

* a path outside the prefix, an empty or overlong id, or one with control
  characters or percent-encoding that is not UTF-8: HTTP 404;
* an unknown charge point id: HTTP 404 under the ``reject`` policy (OCPP-J §3.2),
  registered under ``accept``;
* subprotocols: ``ocpp1.6`` is selected when offered, from any list. A client that
  offers none we speak gets what OCPP-J 1.6 §3.1.2 prescribes: the handshake
  completes without a ``Sec-WebSocket-Protocol`` header and the connection is
  closed at once (1002), before a single frame is read;
* the charger's security profile (``transport.security``, docs/security.md):
  HTTP Basic, TLS and client certificates, 401/403/429 when they do not suffice.

Every refusal is logged once, with its reason. A charger that connects again,
authenticated, replaces its old connection, which is closed; the old session's
cleanup only unregisters itself, never the new connection. A refused attempt
never gets that far, so it evicts nobody.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from http import HTTPStatus
from urllib.parse import unquote, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from central_system.observability import Metrics, charge_point_context
from central_system.services import ChargerSessions
from central_system.transport.charge_point import CentralChargePoint
from central_system.transport.registry import ConnectionRegistry
from central_system.transport.security import HandshakeSecurity, keep_secrets_out_of

logger = logging.getLogger(__name__)

SUBPROTOCOL = Subprotocol("ocpp1.6")
MAX_ID_LENGTH = 255


def charge_point_id_from_path(path: str, prefix: str) -> str | None:
    """The charge point id, the last path segment percent-decoded, or ``None``."""
    route = urlsplit(path).path
    if prefix and not route.startswith(prefix + "/"):
        return None
    head, _, last = route.rpartition("/")
    if not head.startswith(prefix) or not last:
        return None
    try:
        # Strict: two ids with different broken bytes must not both become U+FFFD.
        charge_point_id = unquote(last, errors="strict")
    except UnicodeDecodeError:
        return None
    if (
        not charge_point_id.strip()
        or len(charge_point_id) > MAX_ID_LENGTH
        # A NUL cannot be stored in PostgreSQL text: the lookup would fail with a 500.
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in charge_point_id)
    ):
        return None
    return charge_point_id


def _is_upgrade(headers: Headers) -> bool:
    """Does the request ask for a WebSocket at all (``Upgrade: websocket``)?"""
    return any(
        token.strip().lower() == "websocket"
        for value in headers.get_all("Upgrade")
        for token in value.split(",")
    )


def _offered(headers: Headers) -> list[str]:
    return [
        token.strip()
        for value in headers.get_all("Sec-WebSocket-Protocol")
        for token in value.split(",")
        if token.strip()
    ]


class OcppServer:
    def __init__(
        self,
        *,
        sessions: ChargerSessions,
        registry: ConnectionRegistry,
        metrics: Metrics,
        charge_point_factory: Callable[[str, ServerConnection], CentralChargePoint],
        path_prefix: str,
        max_frame_bytes: int,
        open_timeout: float,
        ping_interval: float,
        ping_timeout: float,
        allow_missing_subprotocol: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        security: HandshakeSecurity | None = None,
        reuse_port: bool = False,
    ) -> None:
        self._sessions = sessions
        self._registry = registry
        self._metrics = metrics
        self._factory = charge_point_factory
        self._prefix = path_prefix
        self._max_frame_bytes = max_frame_bytes
        self._open_timeout = open_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._allow_missing_subprotocol = allow_missing_subprotocol
        self._ssl_context = ssl_context
        self._security = security
        #: SO_REUSEPORT: several processes of one node share the port (``--workers``).
        self._reuse_port = reuse_port
        self._server: Server | None = None
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def listening(self) -> bool:
        return self._server is not None and self._server.is_serving()

    async def start(self, host: str, port: int) -> None:
        websockets_logger = logging.getLogger("central_system.transport.websockets")
        keep_secrets_out_of(websockets_logger)  # its DEBUG lines show headers and frames
        self._server = await serve(
            self._serve_connection,
            host,
            port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            subprotocols=[SUBPROTOCOL],
            max_size=self._max_frame_bytes,
            open_timeout=self._open_timeout,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            # Chargers send small JSON; per-connection deflate state costs memory for little.
            compression=None,
            logger=websockets_logger,
            ssl=self._ssl_context,
            reuse_port=self._reuse_port,
        )

    def stop_accepting(self) -> None:
        """Close the listening socket; connected chargers stay until ``close()`` (draining)."""
        if self._server is not None:
            self._server.server.close()

    async def close(self) -> None:
        """Stop accepting, close every charger's socket (1001), let sessions finish."""
        if self._server is None:
            return
        self._server.close(close_connections=True)
        await self._server.wait_closed()
        self._server = None

    def _refuse(
        self,
        reason: str,
        detail: str,
        status: HTTPStatus,
        body: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Response:
        logger.warning("connection refused (%s): %s", reason, detail)
        self._metrics.refused_connections.labels(reason).inc()
        response = Response(
            status.value,
            status.phrase,
            Headers([("Content-Type", "text/plain; charset=utf-8"), *headers]),
            body.encode(),
        )
        return response

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        charge_point_id = charge_point_id_from_path(request.path, self._prefix)
        if charge_point_id is None:
            return self._refuse(
                "bad_path",
                f"path {request.path!r} names no charge point",
                HTTPStatus.NOT_FOUND,
                f"Connect to {self._prefix}/<chargePointId>\n",
            )
        if not _is_upgrade(request.headers):
            # Not a WebSocket handshake: websockets answers 426, and nobody is admitted.
            return None
        if not self._speaks_ocpp16(_offered(request.headers)):
            # Completed without a subprotocol and closed in _serve_connection (OCPP-J
            # §3.1.2); nobody is looked up or registered for it.
            return None
        token = charge_point_context.set(charge_point_id)
        try:
            if not await self._sessions.admit(charge_point_id):
                return self._refuse(
                    "unknown_charger",
                    f"unknown charge point {charge_point_id!r}",
                    HTTPStatus.NOT_FOUND,
                    "Unknown charge point\n",
                )
            if self._security is not None:
                # Before anything is upgraded: a refused attempt evicts no live connection.
                refusal = await self._security.check(
                    connection, request.headers, charge_point_id, tls=self._ssl_context is not None
                )
                if refusal is not None:
                    return self._refuse(
                        refusal.reason,
                        refusal.detail,
                        refusal.status,
                        refusal.body,
                        refusal.headers,
                    )
        finally:
            charge_point_context.reset(token)
        return None

    def _speaks_ocpp16(self, offered: list[str]) -> bool:
        return SUBPROTOCOL in offered or (not offered and self._allow_missing_subprotocol)

    def _select_subprotocol(
        self, connection: ServerConnection, subprotocols: Sequence[Subprotocol]
    ) -> Subprotocol | None:
        # None completes the handshake without the header; _serve_connection then closes.
        return SUBPROTOCOL if SUBPROTOCOL in subprotocols else None

    async def _serve_connection(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        charge_point_id = charge_point_id_from_path(connection.request.path, self._prefix)
        assert charge_point_id is not None  # _process_request let it through
        charge_point_context.set(charge_point_id)
        offered = _offered(connection.request.headers)
        if not self._speaks_ocpp16(offered):
            logger.warning(
                "connection refused (subprotocol): offered %s, we speak ocpp1.6",
                offered or "none",
            )
            self._metrics.refused_connections.labels("subprotocol").inc()
            await connection.close(1002, "ocpp1.6 is the only subprotocol spoken here")
            return
        charge_point = self._factory(charge_point_id, connection)
        previous = self._registry.register(charge_point)
        if previous is not None:
            logger.info("new connection replaces the previous one")
            closing = asyncio.create_task(previous.close(1000, "replaced by a newer connection"))
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        self._metrics.connected_chargers.inc()
        logger.info("connected from %s", connection.remote_address)
        try:
            await charge_point.start()
        finally:
            self._metrics.connected_chargers.dec()
            self._registry.unregister(charge_point)
            logger.info(
                "disconnected (code %s)",
                connection.close_code if connection.close_code is not None else "none",
            )
