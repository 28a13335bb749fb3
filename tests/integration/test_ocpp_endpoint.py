"""The OCPP-J WebSocket endpoint of a running central system: who gets in, and how.

Every test talks to the real server on 127.0.0.1 through a real WebSocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from ocpp.v16 import call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.typing import Subprotocol

from central_system.domain.errors import UnknownChargePoint
from central_system.domain.model import EventKind, IdTag, RegistrationStatus
from central_system.ports import Page
from central_system.system import CentralSystem
from central_system.transport.charge_point import CentralChargePoint
from tests.chargers import LibraryCharger, library_charger, raw_charger
from tests.conftest import DatabaseConfig, ocpp_url, running_system

SERVER_LOGGER = "central_system.transport.server"
OCPP16 = "ocpp1.6"
#: Close code "protocol error" (RFC 6455 §7.4.1), which OCPP-J 1.6 §3.1.2 prescribes.
PROTOCOL_ERROR = 1002
MESSAGE_TOO_BIG = 1009


def _refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == SERVER_LOGGER and record.getMessage().startswith("connection refused")
    ]


def _base(system: CentralSystem) -> str:
    return f"ws://127.0.0.1:{system.ocpp_port}"


async def _heartbeat(connection: ClientConnection, unique_id: str = "hb-1") -> list[Any]:
    await connection.send(json.dumps([2, unique_id, "Heartbeat", {}]))
    async with asyncio.timeout(5):
        answer: list[Any] = json.loads(await connection.recv())
    return answer


async def _assert_closed_without_answer(connection: ClientConnection, code: int) -> None:
    """A Heartbeat sent now is never answered: the next thing to arrive is the close."""
    with contextlib.suppress(ConnectionClosed):  # the close may already be under way
        await connection.send(json.dumps([2, "never-answered", "Heartbeat", {}]))
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(5):
            await connection.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == code
    assert connection.close_code == code


@pytest.fixture
async def registered(system: CentralSystem) -> Callable[[str], str]:
    """Registers ``CP-1`` (Accepted); returns a function building a charger's URL."""
    await system.operations.put_charge_point("CP-1", RegistrationStatus.ACCEPTED)
    return lambda charge_point_id: ocpp_url(system, charge_point_id)


# --------------------------------------------------------------------------- subprotocols


@pytest.mark.parametrize(
    "offered",
    [pytest.param([OCPP16], id="only-ocpp1.6"), pytest.param(["ocpp0.1", OCPP16], id="among")],
)
async def test_ocpp16_is_selected_when_offered(
    system: CentralSystem, registered: Callable[[str], str], offered: list[str]
) -> None:
    async with connect(registered("CP-1"), subprotocols=offered) as connection:  # type: ignore[arg-type]
        assert connection.subprotocol == OCPP16
        assert connection.response is not None
        assert connection.response.headers["Sec-WebSocket-Protocol"] == OCPP16
        answer = await _heartbeat(connection)
    assert answer[:2] == [3, "hb-1"]
    assert answer[2]["currentTime"].endswith("Z")


@pytest.mark.parametrize(
    "offered",
    [pytest.param(["ocpp2.0.1"], id="ocpp2.0.1-only"), pytest.param(None, id="nothing")],
)
async def test_a_charger_without_ocpp16_is_closed_with_1002_after_the_handshake(
    system: CentralSystem,
    registered: Callable[[str], str],
    offered: list[str] | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with connect(registered("CP-1"), subprotocols=offered) as connection:  # type: ignore[arg-type]
        # OCPP-J 1.6 §3.1.2: the handshake completes, without Sec-WebSocket-Protocol ...
        assert connection.subprotocol is None
        assert connection.response is not None
        assert "Sec-WebSocket-Protocol" not in connection.response.headers
        # ... and the server closes at once, without reading a single frame.
        await _assert_closed_without_answer(connection, PROTOCOL_ERROR)
    assert system.registry.get("CP-1") is None
    refusals = _refusals(caplog)
    assert len(refusals) == 1
    assert "(subprotocol)" in refusals[0]


async def test_a_charger_offering_no_subprotocol_is_admitted_when_allowed(
    sqlite_config: DatabaseConfig,
) -> None:
    async with running_system(sqlite_config, allow_missing_subprotocol=True) as system:
        await system.operations.put_charge_point("CP-LEGACY", RegistrationStatus.ACCEPTED)
        async with connect(ocpp_url(system, "CP-LEGACY")) as connection:
            assert connection.subprotocol is None
            answer = await _heartbeat(connection)
            assert answer[:2] == [3, "hb-1"]
            assert system.registry.get("CP-LEGACY") is not None


async def test_allowing_a_missing_subprotocol_still_refuses_a_foreign_one(
    sqlite_config: DatabaseConfig,
) -> None:
    async with running_system(sqlite_config, allow_missing_subprotocol=True) as system:
        await system.operations.put_charge_point("CP-LEGACY", RegistrationStatus.ACCEPTED)
        async with connect(
            ocpp_url(system, "CP-LEGACY"),
            subprotocols=["ocpp2.0.1"],  # type: ignore[list-item]
        ) as connection:
            assert connection.subprotocol is None
            await _assert_closed_without_answer(connection, PROTOCOL_ERROR)


# ------------------------------------------------------------------- who may connect


async def test_an_unknown_charge_point_is_refused_with_404_and_logged_once(
    system: CentralSystem, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(ocpp_url(system, "CP-NOPE"), subprotocols=[OCPP16]):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 404
    refusals = _refusals(caplog)
    assert len(refusals) == 1, refusals
    assert "(unknown_charger)" in refusals[0]
    assert "CP-NOPE" in refusals[0]
    with pytest.raises(UnknownChargePoint):
        await system.operations.charge_point("CP-NOPE")


async def test_an_unknown_charge_point_is_registered_under_the_accept_policy(
    sqlite_config: DatabaseConfig,
) -> None:
    async with running_system(sqlite_config, unknown_chargers="accept") as system:
        with pytest.raises(UnknownChargePoint):
            await system.operations.charge_point("CP-NEW")
        async with library_charger(ocpp_url(system, "CP-NEW"), "CP-NEW") as charger:
            boot = await charger.call(
                call.BootNotification(charge_point_model="Wallbox", charge_point_vendor="Acme")
            )
        assert boot.status == "Accepted"
        view = await system.operations.charge_point("CP-NEW")
        assert (view.charge_point.vendor, view.charge_point.model) == ("Acme", "Wallbox")
        events = await system.operations.events(Page(), "CP-NEW")
        assert [event.kind for event in events] == [EventKind.CHARGER_REGISTERED]


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/other/CP-1", id="outside-the-prefix"),
        pytest.param("/CP-1", id="no-prefix"),
        pytest.param("/ocppx/CP-1", id="prefix-lookalike"),
        pytest.param("/ocpp/", id="empty-id"),
        pytest.param("/ocpp", id="prefix-only"),
        pytest.param("/ocpp/%20%20", id="blank-id"),
        pytest.param("/ocpp/" + "C" * 256, id="overlong-id"),
    ],
)
async def test_a_path_naming_no_charge_point_is_refused_with_404(
    system: CentralSystem,
    registered: Callable[[str], str],
    path: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(_base(system) + path, subprotocols=[OCPP16]):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 404
    refusals = _refusals(caplog)
    assert len(refusals) == 1, refusals
    assert "(bad_path)" in refusals[0]
    assert len(system.registry) == 0


async def test_the_charge_point_id_is_the_percent_decoded_last_segment(
    system: CentralSystem,
) -> None:
    await system.operations.put_charge_point("CP 7/A", RegistrationStatus.ACCEPTED)
    async with library_charger(_base(system) + "/ocpp/CP%207%2FA", "CP 7/A") as charger:
        boot = await charger.call(
            call.BootNotification(charge_point_model="Wallbox", charge_point_vendor="Acme")
        )
        assert boot.status == "Accepted"
        connected = system.registry.get("CP 7/A")
        assert connected is not None
        assert connected.id == "CP 7/A"
    view = await system.operations.charge_point("CP 7/A")
    assert view.charge_point.vendor == "Acme"
    assert view.charge_point.last_boot_at is not None


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/ocpp/level-1/CP-1", id="intermediate-segment"),
        pytest.param("/ocpp/CP-1?site=garage-2", id="query-string"),
    ],
)
async def test_only_the_last_segment_names_the_charger(
    system: CentralSystem, registered: Callable[[str], str], path: str
) -> None:
    async with connect(_base(system) + path, subprotocols=[OCPP16]) as connection:  # type: ignore[list-item]
        answer = await _heartbeat(connection)
        assert answer[:2] == [3, "hb-1"]
        connected = system.registry.get("CP-1")
        assert connected is not None
        assert connected.id == "CP-1"


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/ocpp/CP%00X", id="nul"),
        pytest.param("/ocpp/CP%0AX", id="newline"),
        pytest.param("/ocpp/CP%FFX", id="not-utf8"),
    ],
)
async def test_an_id_with_control_characters_or_broken_utf8_is_refused_with_404(
    database_config: DatabaseConfig, caplog: pytest.LogCaptureFixture, path: str
) -> None:
    # Under "accept" such an id would otherwise be registered (or, on PostgreSQL,
    # fail the handshake with a 500 and a traceback: text cannot hold a NUL).
    async with running_system(database_config, unknown_chargers="accept") as system:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(_base(system) + path, subprotocols=[OCPP16]):  # type: ignore[list-item]
                pass
        assert refused.value.response.status_code == 404
        assert await system.operations.charge_points(Page()) == []
    refusals = _refusals(caplog)
    assert len(refusals) == 1, refusals
    assert "(bad_path)" in refusals[0]
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_a_request_that_is_no_websocket_upgrade_registers_nobody(
    sqlite_config: DatabaseConfig,
) -> None:
    async with running_system(sqlite_config, unknown_chargers="accept") as system:
        async with httpx.AsyncClient() as client:
            response = await client.get(_base(system).replace("ws:", "http:") + "/ocpp/CP-WEB")
        assert response.status_code == 426
        assert await system.operations.charge_points(Page()) == []
        # A real charger with that id is still registered on its first connection.
        async with raw_charger(ocpp_url(system, "CP-WEB")) as charger:
            answer = await charger.call("hb", "Heartbeat", {})
        assert answer[:2] == [3, "hb"]
        assert [view.charge_point.id for view in await system.operations.charge_points(Page())] == [
            "CP-WEB"
        ]


# ------------------------------------------------------------------- duplicate identity


async def test_a_second_connection_replaces_the_first(
    system: CentralSystem, registered: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = registered("CP-1")
    async with connect(url, subprotocols=[OCPP16]) as old_connection:  # type: ignore[list-item]
        old = LibraryCharger("CP-1", old_connection)
        old_task = asyncio.create_task(old.start())
        try:
            await old.call(call.Heartbeat())  # answered: the server has registered it
            old_session = system.registry.get("CP-1")
            assert old_session is not None

            cleaned_up = asyncio.Event()
            removed_by_old_cleanup: list[bool] = []
            unregister = system.registry.unregister

            def watching_unregister(charge_point: CentralChargePoint) -> bool:
                removed = unregister(charge_point)
                if charge_point is old_session:
                    removed_by_old_cleanup.append(removed)
                    cleaned_up.set()
                return removed

            monkeypatch.setattr(system.registry, "unregister", watching_unregister)

            async with library_charger(url, "CP-1") as new:
                await new.call(call.Heartbeat())
                new_session = system.registry.get("CP-1")
                assert new_session is not None
                assert new_session is not old_session

                async with asyncio.timeout(5):
                    await old_connection.wait_closed()
                    await cleaned_up.wait()
                assert old_connection.close_code == 1000
                assert old_connection.close_reason == "replaced by a newer connection"
                # The old session's cleanup left the new connection registered.
                assert removed_by_old_cleanup == [False]
                assert system.registry.get("CP-1") is new_session

                reply = await system.commands.send("CP-1", "Reset", {"type": "Soft"})
                assert reply == {"status": "Accepted"}
                assert new.received == [("Reset", {"type": "Soft"})]
                assert old.received == []
                heartbeat = await new.call(call.Heartbeat())
                assert heartbeat.current_time.endswith("Z")
        finally:
            old_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await old_task


async def test_a_connection_refused_for_its_subprotocol_evicts_nobody(
    system: CentralSystem, registered: Callable[[str], str]
) -> None:
    async with raw_charger(registered("CP-1")) as charger:
        assert (await charger.call("hb-1", "Heartbeat", {}))[:2] == [3, "hb-1"]
        served = system.registry.get("CP-1")
        assert served is not None
        async with connect(registered("CP-1"), subprotocols=["ocpp2.0.1"]) as intruder:  # type: ignore[list-item]
            await _assert_closed_without_answer(intruder, PROTOCOL_ERROR)
        assert system.registry.get("CP-1") is served
        assert (await charger.call("hb-2", "Heartbeat", {}))[:2] == [3, "hb-2"]


# -------------------------------------------------------------------------- frame size


async def test_a_frame_over_the_size_limit_closes_with_1009(sqlite_config: DatabaseConfig) -> None:
    async with running_system(sqlite_config, ws_max_frame_bytes=4096) as system:
        await system.operations.put_charge_point("CP-BIG", RegistrationStatus.ACCEPTED)
        async with raw_charger(ocpp_url(system, "CP-BIG")) as charger:
            # Just under the limit is served ...
            fits = [2, "fits", "DataTransfer", {"vendorId": "acme", "data": ""}]
            fits[3]["data"] = "x" * (4096 - len(json.dumps(fits)))  # type: ignore[index]
            assert len(json.dumps(fits)) == 4096
            await charger.send(fits)
            answer = await charger.receive()
            assert answer[:2] == [3, "fits"]
            # ... one byte more is not.
            too_big = [2, "too-big", "DataTransfer", {"vendorId": "acme", "data": ""}]
            too_big[3]["data"] = "x" * (4097 - len(json.dumps(too_big)))  # type: ignore[index]
            await charger.send(too_big)
            with pytest.raises(ConnectionClosed) as closed:
                await charger.receive()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == MESSAGE_TOO_BIG


# ------------------------------------------------------------- concurrent charger CALLs


def _start_transaction(connector_id: int) -> dict[str, Any]:
    return {
        "connectorId": connector_id,
        "idTag": "TAG-1",
        "meterStart": 100,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }


async def test_a_status_notification_during_a_start_transaction_is_answered_after_it(
    system: CentralSystem, registered: Callable[[str], str]
) -> None:
    await system.operations.put_id_tag(IdTag("TAG-1"))
    async with raw_charger(registered("CP-1")) as charger:
        await charger.send([2, "start-1", "StartTransaction", _start_transaction(1)])
        await charger.send(
            [
                2,
                "status-1",
                "StatusNotification",
                {"connectorId": 2, "errorCode": "NoError", "status": "Preparing"},
            ]
        )
        first = await charger.receive()
        second = await charger.receive()
    assert first[:2] == [3, "start-1"]
    assert first[2]["idTagInfo"] == {"status": "Accepted"}
    assert second == [3, "status-1", {}]
    transaction = await system.operations.transaction(first[2]["transactionId"])
    assert transaction is not None
    assert transaction.transaction.connector_id == 1
    view = await system.operations.charge_point("CP-1")
    assert [(c.connector_id, c.status) for c in view.connectors] == [(2, "Preparing")]


async def test_a_slow_start_transaction_is_not_overtaken_by_a_later_call(
    system: CentralSystem, registered: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    await system.operations.put_id_tag(IdTag("TAG-1"))
    entered = asyncio.Event()
    release = asyncio.Event()
    start_transaction = system.sessions.start_transaction

    async def held_start_transaction(*args: Any, **kwargs: Any) -> Any:
        entered.set()
        await release.wait()
        return await start_transaction(*args, **kwargs)

    monkeypatch.setattr(system.sessions, "start_transaction", held_start_transaction)
    async with raw_charger(registered("CP-1")) as charger:
        try:
            await charger.send([2, "start-1", "StartTransaction", _start_transaction(1)])
            async with asyncio.timeout(5):
                await entered.wait()
            await charger.send(
                [
                    2,
                    "status-1",
                    "StatusNotification",
                    {"connectorId": 2, "errorCode": "NoError", "status": "Preparing"},
                ]
            )
            # A broken frame is answered by the reader at once: when its CallError
            # arrives, the server has read the StatusNotification too.
            await charger.send("not a frame")
            barrier = await charger.receive()
            assert barrier[:3] == [4, "-1", "FormationViolation"]
        finally:
            release.set()
        first = await charger.receive()
        second = await charger.receive()
    assert first[:2] == [3, "start-1"]
    assert "transactionId" in first[2]
    assert second == [3, "status-1", {}]


async def test_a_wrong_subprotocol_registers_nobody_under_the_accept_policy(
    sqlite_config: DatabaseConfig,
) -> None:
    async with running_system(sqlite_config, unknown_chargers="accept") as system:
        async with connect(
            ocpp_url(system, "CP-2X"), subprotocols=[Subprotocol("ocpp2.0.1")]
        ) as connection:
            with pytest.raises(ConnectionClosed):
                await connection.recv()
            assert connection.close_code == 1002
        with pytest.raises(UnknownChargePoint):
            await system.operations.charge_point("CP-2X")
