"""A central system with a plain and a TLS listener, and chargers that authenticate."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from central_system.domain.model import Event, EventKind, RegistrationStatus
from central_system.ports import Page
from central_system.system import CentralSystem
from tests.chargers import LibraryCharger
from tests.conftest import OPERATOR_TOKEN, DatabaseConfig, running_system
from tests.security.pki import Pki

OCPP16 = "ocpp1.6"
OP = "/api/v1/operator"
#: What operators type: 16-20 printable characters (the key's bytes) ...
PASSWORD = "garage-secret-0042"
#: ... and what the whitepaper sends in AuthorizationKey: the same bytes in hex.
PASSWORD_HEX = PASSWORD.encode().hex()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def tls_settings(pki: Pki, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ocpp_tls_port": 0,
        "tls_cert_file": pki.server.certificate_file,
        "tls_key_file": pki.server.key_file,
        "tls_client_ca_file": pki.chargers.certificate_file,
        "signing_ca_cert_file": pki.chargers.certificate_file,
        "signing_ca_key_file": pki.chargers.key_file,
    }
    values.update(overrides)
    return values


@contextlib.asynccontextmanager
async def secure_system(
    config: DatabaseConfig, pki: Pki, **overrides: Any
) -> AsyncIterator[CentralSystem]:
    async with running_system(config, **tls_settings(pki, **overrides)) as system:
        yield system


@pytest.fixture
async def system(sqlite_config: DatabaseConfig, pki: Pki) -> AsyncIterator[CentralSystem]:
    async with secure_system(sqlite_config, pki) as running:
        yield running


def plain_url(system: CentralSystem, charge_point_id: str) -> str:
    return f"ws://127.0.0.1:{system.ocpp_port}/ocpp/{charge_point_id}"


def tls_url(system: CentralSystem, charge_point_id: str) -> str:
    return f"wss://127.0.0.1:{system.ocpp_tls_port}/ocpp/{charge_point_id}"


def basic(username: str, password: str | bytes) -> dict[str, str]:
    raw = password.encode() if isinstance(password, str) else password
    token = base64.b64encode(username.encode() + b":" + raw).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def charger_connection(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[ClientConnection]:
    async with connect(
        url,
        subprotocols=[OCPP16],  # type: ignore[list-item]
        additional_headers=headers or {},
        ssl=ssl_context,
        open_timeout=5,
    ) as connection:
        yield connection


async def refusal(
    url: str, *, headers: dict[str, str] | None = None, ssl_context: ssl.SSLContext | None = None
) -> Response:
    """The HTTP answer to a handshake that must be refused."""
    with pytest.raises(InvalidStatus) as refused:
        async with charger_connection(url, headers=headers, ssl_context=ssl_context):
            pass
    return refused.value.response


async def heartbeat(connection: ClientConnection, unique_id: str = "hb") -> list[Any]:
    await connection.send(json.dumps([2, unique_id, "Heartbeat", {}]))
    async with asyncio.timeout(5):
        answer: list[Any] = json.loads(await connection.recv())
    return answer


@contextlib.asynccontextmanager
async def library_charger_on(
    connection: ClientConnection, charge_point_id: str
) -> AsyncIterator[LibraryCharger]:
    """A library charger on an open connection; it accepts a new AuthorizationKey."""
    charger = LibraryCharger(charge_point_id, connection)
    charger.configuration["AuthorizationKey"] = ("", False)
    task = asyncio.create_task(charger.start())
    try:
        yield charger
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def register(system: CentralSystem, charge_point_id: str) -> None:
    await system.operations.put_charge_point(charge_point_id, RegistrationStatus.ACCEPTED)


async def events_of(system: CentralSystem, kind: EventKind) -> list[Event]:
    events = await system.operations.events(Page(limit=500))
    return [event for event in reversed(events) if event.kind is kind]


@contextlib.asynccontextmanager
async def operator_api(system: CentralSystem) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{system.api_port}",
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
        timeout=10,
    ) as client:
        yield client


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Every log line of every logger, DEBUG included (websockets' headers and frames)."""
    caplog.set_level(logging.DEBUG)
    return caplog


#: Loggers of the test's own chargers (the client side), not of the central system.
CHARGER_SIDE_LOGGERS = ("websockets.client", "ocpp")


def all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every line the central system logged (the test chargers' own lines left out)."""
    lines = []
    for record in caplog.records:
        if record.name in CHARGER_SIDE_LOGGERS:
            continue
        lines.append(record.getMessage())
        if record.exc_text:
            lines.append(record.exc_text)
    return "\n".join(lines)


def secret_forms(password: str | bytes, charge_point_id: str) -> list[str]:
    """Every way a secret could show up in text: as is, hex, and inside a Basic header."""
    raw = password.encode() if isinstance(password, str) else password
    forms = [raw.hex(), base64.b64encode(charge_point_id.encode() + b":" + raw).decode()]
    with contextlib.suppress(UnicodeDecodeError):
        forms.append(raw.decode())
    return forms
