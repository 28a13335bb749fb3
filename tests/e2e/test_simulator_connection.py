"""How the simulated charger connects: Basic auth, TLS, subprotocol, boot and
reconnection, checked against a small recording WebSocket server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request
from websockets.typing import Subprotocol

from simulators.station import Station, StationSettings

WAIT = 10.0


@dataclass(frozen=True)
class Refuse:
    """Answer with a CALLERROR of this code."""

    code: str = "InternalError"


Answer = Callable[[str, dict[str, Any]], dict[str, Any] | Refuse]


def accept_everything(action: str, payload: dict[str, Any]) -> dict[str, Any] | Refuse:
    if action == "BootNotification":
        return {"status": "Accepted", "interval": 300, "currentTime": "2026-11-24T10:00:00Z"}
    if action == "Heartbeat":
        return {"currentTime": "2026-11-24T10:00:00Z"}
    return {}


@dataclass
class Connection:
    headers: Headers
    subprotocol: str | None
    socket: ServerConnection


@dataclass
class RecordingCentralSystem:
    """Answers every CALL with ``answer`` and records headers and frames."""

    answer: Answer = accept_everything
    select_subprotocol: bool = True
    connections: list[Connection] = field(default_factory=list)
    calls: asyncio.Queue[tuple[float, str, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    replies: asyncio.Queue[list[Any]] = field(default_factory=asyncio.Queue)
    connected: asyncio.Queue[Connection] = field(default_factory=asyncio.Queue)

    async def handle(self, socket: ServerConnection) -> None:
        assert socket.request is not None
        connection = Connection(socket.request.headers, socket.subprotocol, socket)
        self.connections.append(connection)
        self.connected.put_nowait(connection)
        async for raw in socket:
            frame = json.loads(raw)
            if frame[0] == 2:
                _, unique_id, action, payload = frame
                self.calls.put_nowait((time.monotonic(), action, payload))
                answer = self.answer(action, payload)
                if isinstance(answer, Refuse):
                    await socket.send(json.dumps([4, unique_id, answer.code, "refused", {}]))
                else:
                    await socket.send(json.dumps([3, unique_id, answer]))
            else:
                self.replies.put_nowait(frame)

    async def next_call(self) -> tuple[float, str, dict[str, Any]]:
        async with asyncio.timeout(WAIT):
            return await self.calls.get()

    async def next_connection(self) -> Connection:
        async with asyncio.timeout(WAIT):
            return await self.connected.get()


@contextlib.asynccontextmanager
async def recording(
    central: RecordingCentralSystem, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[int]:
    def choose(connection: ServerConnection, offered: Any) -> Subprotocol | None:
        return Subprotocol("ocpp1.6") if central.select_subprotocol else None

    async def process_request(connection: ServerConnection, request: Request) -> None:
        return None

    async with serve(
        central.handle,
        "127.0.0.1",
        0,
        subprotocols=[Subprotocol("ocpp1.6")],
        select_subprotocol=choose,
        process_request=process_request,
        ssl=ssl_context,
    ) as server:
        yield server.sockets[0].getsockname()[1]


def station(url: str, **settings: Any) -> Station:
    return Station(StationSettings("CP-SIM", url=url, reconnect_base=0.05, **settings))


async def test_basic_auth_and_the_subprotocol_are_offered() -> None:
    central = RecordingCentralSystem()
    async with (
        recording(central) as port,
        station(f"ws://127.0.0.1:{port}/ocpp", password=b"0123456789abcdef"),
    ):
        connection = await central.next_connection()
        _, action, payload = await central.next_call()
    assert (
        connection.headers["Authorization"]
        == "Basic " + base64.b64encode(b"CP-SIM:0123456789abcdef").decode()
    )
    assert connection.headers["Sec-WebSocket-Protocol"] == "ocpp1.6"
    assert connection.socket.request is not None
    assert connection.socket.request.path == "/ocpp/CP-SIM"
    assert (action, payload["chargePointVendor"]) == ("BootNotification", "Garage Simulators")


async def test_no_password_no_authorization_header() -> None:
    central = RecordingCentralSystem()
    async with recording(central) as port, station(f"ws://127.0.0.1:{port}/ocpp"):
        connection = await central.next_connection()
    assert "Authorization" not in connection.headers


async def test_a_new_authorization_key_is_used_on_the_next_connection() -> None:
    central = RecordingCentralSystem()
    new_key = "00112233445566778899aabbccddeeff"
    async with (
        recording(central) as port,
        station(f"ws://127.0.0.1:{port}/ocpp", password=b"factory-password") as charger,
    ):
        first = await central.next_connection()
        await central.next_call()  # the boot
        await first.socket.send(
            json.dumps(
                [2, "k1", "ChangeConfiguration", {"key": "AuthorizationKey", "value": new_key}]
            )
        )
        async with asyncio.timeout(WAIT):
            reply = await central.replies.get()
        assert reply == [3, "k1", {"status": "Accepted"}]
        await first.socket.close()
        second = await central.next_connection()
        assert charger.recorder.last("password_changed") is not None
    expected = base64.b64encode(b"CP-SIM:" + bytes.fromhex(new_key)).decode()
    assert second.headers["Authorization"] == f"Basic {expected}"


def _certificate(directory: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is needed to make a test certificate")
    key, cert = directory / "key.pem", directory / "cert.pem"
    subprocess.run(  # noqa: S603 (fixed arguments)
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


async def test_tls_with_a_ca_file(tmp_path: Path) -> None:
    key, cert = _certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    central = RecordingCentralSystem()
    async with recording(central, context) as port:
        url = f"wss://127.0.0.1:{port}/ocpp"
        async with station(url, password=b"0123456789abcdef", ca_file=cert) as charger:
            connection = await central.next_connection()
            _, action, _ = await central.next_call()
            assert action == "BootNotification"
            assert charger.endpoint.security_profile == 2
        assert connection.headers["Authorization"].startswith("Basic ")
        # Without the CA the server's certificate is not trusted: no connection.
        async with station(url) as untrusting:
            async with asyncio.timeout(WAIT):
                failure = await untrusting.recorder.wait_for(
                    lambda o: o.kind == "error" and o.data["kind"] == "connect", since=0
                )
        assert "CERTIFICATE_VERIFY_FAILED" in failure.data["detail"]
        assert len(central.connections) == 1


async def test_boot_waits_out_rejected_and_pending_for_their_interval() -> None:
    answers = iter(["Rejected", "Pending", "Accepted"])

    def boot(action: str, payload: dict[str, Any]) -> dict[str, Any] | Refuse:
        if action == "BootNotification":
            return {"status": next(answers), "interval": 1, "currentTime": "2026-11-24T10:00:00Z"}
        return {}

    central = RecordingCentralSystem(answer=boot)
    async with recording(central) as port, station(f"ws://127.0.0.1:{port}/ocpp") as charger:
        connection = await central.next_connection()
        first, _, _ = await central.next_call()
        second, _, _ = await central.next_call()
        # While Pending the central system may already configure the charger.
        await connection.socket.send(
            json.dumps([2, "g1", "GetConfiguration", {"key": ["NumberOfConnectors"]}])
        )
        async with asyncio.timeout(WAIT):
            reply = await central.replies.get()
        third, _, _ = await central.next_call()
        _, after_boot, _ = await central.next_call()
        assert charger.registration == "Accepted"
    assert reply == [
        3,
        "g1",
        {"configurationKey": [{"key": "NumberOfConnectors", "readonly": True, "value": "1"}]},
    ]
    assert second - first >= 0.9
    assert third - second >= 0.9
    assert after_boot == "StatusNotification"  # nothing but boots before Accepted
    assert len(central.connections) == 1


async def test_a_lost_connection_is_retried_and_boots_again() -> None:
    central = RecordingCentralSystem()
    async with recording(central) as port, station(f"ws://127.0.0.1:{port}/ocpp") as charger:
        first = await central.next_connection()
        await central.next_call()
        await first.socket.close()
        await central.next_connection()
        while (await central.next_call())[1] != "BootNotification":
            pass
        retry = charger.recorder.last("reconnecting")
    assert retry is not None
    assert 0.025 <= retry.data["in_seconds"] <= 0.05


async def test_a_server_that_does_not_speak_ocpp16_gets_no_boot() -> None:
    central = RecordingCentralSystem(select_subprotocol=False)
    async with recording(central) as port, station(f"ws://127.0.0.1:{port}/ocpp") as charger:
        await central.next_connection()
        async with asyncio.timeout(WAIT):
            refused = await charger.recorder.wait_for(
                lambda o: o.kind == "error" and o.data["kind"] == "subprotocol", since=0
            )
    assert "ocpp1.6" in refused.data["detail"]
    assert central.calls.empty()


async def calls_until(central: RecordingCentralSystem, action: str) -> tuple[float, dict[str, Any]]:
    while True:
        at, seen_action, payload = await central.next_call()
        if seen_action == action:
            return at, payload


async def test_a_heartbeat_goes_out_after_a_quiet_interval() -> None:
    def quick(action: str, payload: dict[str, Any]) -> dict[str, Any] | Refuse:
        if action == "BootNotification":
            return {"status": "Accepted", "interval": 1, "currentTime": "2026-11-24T10:00:00Z"}
        return accept_everything(action, payload)

    central = RecordingCentralSystem(answer=quick)
    async with recording(central) as port, station(f"ws://127.0.0.1:{port}/ocpp") as charger:
        last = 0.0
        for _ in range(3):  # the boot and the two statuses
            last, _, _ = await central.next_call()
        beat, action, _ = await central.next_call()
        assert charger.config.number("HeartbeatInterval") == 1
    assert action == "Heartbeat"
    assert beat - last >= 0.9


async def test_a_refused_transaction_message_is_retried_then_delivered() -> None:
    starts = iter([Refuse(), {"transactionId": 8, "idTagInfo": {"status": "Accepted"}}])

    def flaky(action: str, payload: dict[str, Any]) -> dict[str, Any] | Refuse:
        if action == "StartTransaction":
            return next(starts)
        if action == "Authorize":
            return {"idTagInfo": {"status": "Accepted"}}
        return accept_everything(action, payload)

    central = RecordingCentralSystem(answer=flaky)
    settings = {"TransactionMessageRetryInterval": "1", "MeterValueSampleInterval": "0"}
    async with (
        recording(central) as port,
        station(f"ws://127.0.0.1:{port}/ocpp", config=settings) as charger,
    ):
        await charger.wait_registered()
        charger.plug(1)
        charger.present("TAG", 1)
        first, _ = await calls_until(central, "StartTransaction")
        second, _ = await calls_until(central, "StartTransaction")
        charger.unplug(1)
        _, stop = await calls_until(central, "StopTransaction")
    assert second - first >= 0.9  # TransactionMessageRetryInterval x 1 attempt
    assert stop["transactionId"] == 8


async def test_a_transaction_message_is_given_up_after_its_attempts() -> None:
    def refusing(action: str, payload: dict[str, Any]) -> dict[str, Any] | Refuse:
        if action in ("StartTransaction", "Authorize"):
            return Refuse()
        return accept_everything(action, payload)

    central = RecordingCentralSystem(answer=refusing)
    settings = {
        "TransactionMessageAttempts": "2",
        "TransactionMessageRetryInterval": "0",
        "AllowOfflineTxForUnknownId": "true",
    }
    async with (
        recording(central) as port,
        station(f"ws://127.0.0.1:{port}/ocpp", config=settings) as charger,
    ):
        await charger.wait_registered()
        mark = charger.recorder.mark
        charger.plug(1)
        # Authorize is refused: no answer, so the offline rule lets the unknown card in.
        charger.present("TAG", 1)
        await calls_until(central, "StartTransaction")
        await calls_until(central, "StartTransaction")
        async with asyncio.timeout(WAIT):
            dropped = await charger.recorder.wait_for(lambda o: o.kind == "dropped", since=mark)
        charger.unplug(1)
        async with asyncio.timeout(WAIT):
            lost = await charger.recorder.wait_for(
                lambda o: o.kind == "error" and o.data["kind"] == "undeliverable", since=mark
            )
        verdict = charger.recorder.last("authorization")
    assert verdict is not None
    assert verdict.data["source"] == "offline, unknown id"
    assert dropped.data == {"action": "StartTransaction", "attempts": 2}
    assert "StopTransaction" in lost.data["detail"]
    assert len(charger.queue) == 0
