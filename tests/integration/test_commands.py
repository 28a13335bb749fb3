"""Commands from the central system to a charger, against the real server.

The charger here is a raw socket, so each test decides exactly when (and whether)
the charger answers the CALL the server sends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from ocpp.v16 import call, call_result
from websockets.exceptions import ConnectionClosed

from central_system.domain.errors import (
    ChargerDisconnected,
    ChargerNotConnected,
    CommandRejected,
    CommandTimeout,
)
from central_system.domain.model import RegistrationStatus
from central_system.system import CentralSystem
from tests.chargers import RawCharger, raw_charger
from tests.conftest import OPERATOR_TOKEN, DatabaseConfig, ocpp_url, running_system

CP = "CP-CMD-1"
PROBLEM_JSON = "application/problem+json"


def command_path(charge_point_id: str, action: str) -> str:
    return f"/api/v1/operator/charge-points/{charge_point_id}/commands/{action}"


def operator(system: CentralSystem, token: str | None = OPERATOR_TOKEN) -> httpx.AsyncClient:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{system.api_port}", headers=headers)


async def heartbeat_round_trip(charger: RawCharger) -> None:
    """A CALL of the charger's own; its answer is the next frame the charger reads."""
    unique_id = f"hb-{uuid.uuid4().hex[:8]}"
    frame = await charger.call(unique_id, "Heartbeat", {})
    assert frame[:2] == [3, unique_id], frame


@contextlib.asynccontextmanager
async def connected(system: CentralSystem, charge_point_id: str) -> AsyncIterator[RawCharger]:
    """A raw charger whose connection the server has registered (it answered a Heartbeat)."""
    async with raw_charger(ocpp_url(system, charge_point_id)) as charger:
        await heartbeat_round_trip(charger)
        yield charger


async def receive_text(charger: RawCharger) -> str:
    async with asyncio.timeout(5):
        message = await charger.connection.recv()
    assert isinstance(message, str)
    return message


def unmatched_replies(system: CentralSystem) -> float:
    value = system.metrics.registry.get_sample_value(
        "ocpp_messages_total", {"direction": "in", "action": "(reply)", "outcome": "unmatched"}
    )
    return value or 0.0


def assert_problem(response: httpx.Response, status: int, **fields: Any) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for name, value in fields.items():
        assert body[name] == value, body
    return body


# ------------------------------------------------------------------ operator HTTP API


REMOTE_START_BODY = """{
  "connectorId": 2,
  "idTag": "TAG-7",
  "chargingProfile": {
    "chargingProfileId": 7,
    "stackLevel": 1,
    "chargingProfilePurpose": "TxProfile",
    "chargingProfileKind": "Relative",
    "chargingSchedule": {
      "chargingRateUnit": "A",
      "chargingSchedulePeriod": [
        {"startPeriod": 0, "limit": 16.7, "numberPhases": 3},
        {"startPeriod": 1800, "limit": 10.1}
      ],
      "minChargingRate": 6.3
    }
  }
}"""


async def test_operator_command_is_sent_verbatim_and_the_answer_is_returned(
    system: CentralSystem,
) -> None:
    await system.operations.put_charge_point(CP, RegistrationStatus.ACCEPTED)
    async with connected(system, CP) as charger, operator(system) as client:
        request = asyncio.create_task(
            client.post(
                command_path(CP, "remote-start-transaction"),
                content=REMOTE_START_BODY,
                headers={"Content-Type": "application/json"},
            )
        )
        text = await receive_text(charger)
        message_type, unique_id, action, payload = json.loads(text, parse_float=Decimal)
        assert (message_type, action) == (2, "RemoteStartTransaction")
        # Compared as decimals: 16.7 must arrive as 16.7, not as a float's approximation.
        assert payload == json.loads(REMOTE_START_BODY, parse_float=Decimal)
        await charger.send([3, unique_id, {"status": "Rejected"}])
        response = await request
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Rejected"}


@pytest.mark.parametrize(
    ("action", "body", "token", "status", "fields"),
    [
        pytest.param(
            "make-coffee", "{}", OPERATOR_TOKEN, 400, {"title": "Unknown command"}, id="unknown"
        ),
        pytest.param(
            "reset",
            '{"type": "Sideways"}',
            OPERATOR_TOKEN,
            400,
            {"ocpp_error_code": "PropertyConstraintViolation"},
            id="enum",
        ),
        pytest.param(
            "remote-start-transaction",
            '{"connectorId": 1}',
            OPERATOR_TOKEN,
            400,
            {"ocpp_error_code": "OccurenceConstraintViolation"},
            id="missing-field",
        ),
        pytest.param(
            "change-availability",
            '{"connectorId": "1", "type": "Inoperative"}',
            OPERATOR_TOKEN,
            400,
            {"ocpp_error_code": "TypeConstraintViolation"},
            id="type",
        ),
        pytest.param(
            "reset",
            '{"type": "Soft", "when": "now"}',
            OPERATOR_TOKEN,
            400,
            {"ocpp_error_code": "FormationViolation"},
            id="extra-field",
        ),
        pytest.param(
            "remote-start-transaction",
            REMOTE_START_BODY.replace("16.7", "16.75"),
            OPERATOR_TOKEN,
            400,
            {"ocpp_error_code": "PropertyConstraintViolation"},
            id="nested-limit-not-a-tenth",
        ),
        pytest.param("reset", '{"type": "Hard"}', None, 401, {}, id="no-token"),
        pytest.param("reset", '{"type": "Hard"}', "not-the-token", 401, {}, id="wrong-token"),
    ],
)
async def test_refused_command_is_answered_with_a_problem_and_never_sent(
    system: CentralSystem,
    action: str,
    body: str,
    token: str | None,
    status: int,
    fields: dict[str, Any],
) -> None:
    await system.operations.put_charge_point(CP, RegistrationStatus.ACCEPTED)
    async with connected(system, CP) as charger:
        async with operator(system, token) as client:
            refused = await client.post(
                command_path(CP, action),
                content=body,
                headers={"Content-Type": "application/json"},
            )
        assert_problem(refused, status, **fields)
        if status == 401:
            assert refused.headers["www-authenticate"] == "Bearer"

        async with operator(system) as client:
            later = asyncio.create_task(
                client.post(command_path(CP, "reset"), json={"type": "Soft"})
            )
            # The first CALL the charger ever sees is the later, valid command's.
            frame = await charger.receive()
            assert frame[0] == 2, frame
            assert frame[2:] == ["Reset", {"type": "Soft"}], frame
            await charger.send([3, frame[1], {"status": "Accepted"}])
            response = await later
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "Accepted"}


@pytest.mark.parametrize("charge_point_id", ["CP-OFFLINE", "CP-NEVER-HEARD-OF"])
async def test_command_for_a_charger_that_is_not_connected_is_404(
    system: CentralSystem, charge_point_id: str
) -> None:
    await system.operations.put_charge_point("CP-OFFLINE", RegistrationStatus.ACCEPTED)
    async with operator(system) as client:
        response = await client.post(command_path(charge_point_id, "reset"), json={"type": "Soft"})
    body = assert_problem(response, 404, title="Charger not connected")
    assert charge_point_id in body["detail"]


async def test_callerror_from_the_charger_is_502_with_its_code(system: CentralSystem) -> None:
    await system.operations.put_charge_point(CP, RegistrationStatus.ACCEPTED)
    async with connected(system, CP) as charger, operator(system) as client:
        request = asyncio.create_task(
            client.post(command_path(CP, "unlock-connector"), json={"connectorId": 1})
        )
        frame = await charger.receive()
        assert frame[2:] == ["UnlockConnector", {"connectorId": 1}]
        await charger.send([4, frame[1], "NotSupported", "no motorised lock", {"why": "model"}])
        response = await request
    assert_problem(
        response,
        502,
        error_code="NotSupported",
        error_description="no motorised lock",
        error_details={"why": "model"},
    )


async def test_charger_that_does_not_answer_in_time_is_504(
    sqlite_config: DatabaseConfig,
) -> None:
    async with running_system(sqlite_config, ocpp_response_timeout=0.5) as system:
        await system.operations.put_charge_point(CP, RegistrationStatus.ACCEPTED)
        async with connected(system, CP) as charger, operator(system) as client:
            request = asyncio.create_task(client.post(command_path(CP, "clear-cache"), content=b""))
            frame = await charger.receive()
            assert frame[2:] == ["ClearCache", {}]
            async with asyncio.timeout(5):
                response = await request
    body = assert_problem(response, 504, title="Charger did not answer")
    assert "ClearCache" in body["detail"]


# -------------------------------------------------- one outstanding call per charger


async def test_second_command_waits_until_the_first_is_answered(system: CentralSystem) -> None:
    await system.operations.put_charge_point(CP, RegistrationStatus.ACCEPTED)
    async with connected(system, CP) as charger:
        first = asyncio.create_task(
            system.commands.send(CP, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        )
        second = asyncio.create_task(system.commands.send(CP, "Reset", {"type": "Soft"}))

        call_1 = await charger.receive()
        assert call_1[0] == 2
        assert call_1[2:] == ["GetConfiguration", {"key": ["HeartbeatInterval"]}]
        # Frames on one socket keep their order: had the second CALL been sent already,
        # it would arrive before the answer to this Heartbeat.
        await heartbeat_round_trip(charger)
        assert not second.done()

        answer_1 = {"configurationKey": [{"key": "HeartbeatInterval", "readonly": False}]}
        await charger.send([3, call_1[1], answer_1])
        call_2 = await charger.receive()
        assert call_2[0] == 2
        assert call_2[2:] == ["Reset", {"type": "Soft"}]
        assert call_2[1] != call_1[1]
        assert await first == answer_1

        await charger.send([3, call_2[1], {"status": "Rejected"}])
        assert await second == {"status": "Rejected"}


async def test_late_reply_after_a_timeout_is_dropped_and_never_paired_with_a_later_call(
    sqlite_config: DatabaseConfig,
) -> None:
    async with running_system(sqlite_config, ocpp_response_timeout=1.0) as system:
        await system.operations.put_charge_point(CP, RegistrationStatus.ACCEPTED)
        async with connected(system, CP) as charger:
            first = asyncio.create_task(
                system.commands.send(CP, "GetConfiguration", {"key": ["First"]})
            )
            call_1 = await charger.receive()
            assert call_1[2:] == ["GetConfiguration", {"key": ["First"]}]
            async with asyncio.timeout(5):
                with pytest.raises(CommandTimeout):
                    await first

            second = asyncio.create_task(
                system.commands.send(CP, "GetConfiguration", {"key": ["Second"]})
            )
            call_2 = await charger.receive()
            assert call_2[2:] == ["GetConfiguration", {"key": ["Second"]}]
            assert call_2[1] != call_1[1]

            dropped_before = unmatched_replies(system)
            late = {"configurationKey": [{"key": "First", "readonly": True, "value": "late"}]}
            own = {"configurationKey": [{"key": "Second", "readonly": True, "value": "own"}]}
            await charger.send([3, call_1[1], late])
            await charger.send([3, call_2[1], own])
            assert await second == own
            assert unmatched_replies(system) == dropped_before + 1

            # No drift either: the next command is paired with its own answer too.
            third = asyncio.create_task(system.commands.send(CP, "Reset", {"type": "Soft"}))
            call_3 = await charger.receive()
            assert call_3[2:] == ["Reset", {"type": "Soft"}]
            await charger.send([3, call_3[1], {"status": "Accepted"}])
            assert await third == {"status": "Accepted"}


# ------------------------------------------------------------- connections that end


async def test_disconnect_fails_the_outstanding_command_at_once(
    sqlite_config: DatabaseConfig,
) -> None:
    async with running_system(sqlite_config, ocpp_response_timeout=30) as system:
        await system.operations.put_charge_point(CP, RegistrationStatus.ACCEPTED)
        async with connected(system, CP) as charger:
            pending = asyncio.create_task(system.commands.send(CP, "Reset", {"type": "Hard"}))
            frame = await charger.receive()
            assert frame[2:] == ["Reset", {"type": "Hard"}]
            await charger.connection.close()
            async with asyncio.timeout(5):  # far less than the 30 s response timeout
                with pytest.raises(ChargerDisconnected):
                    await pending

        with pytest.raises(ChargerNotConnected):
            await system.commands.send(CP, "Reset", {"type": "Soft"})
        assert not system.commands.is_connected(CP)
        async with operator(system) as client:
            response = await client.post(command_path(CP, "reset"), json={"type": "Soft"})
        assert_problem(response, 404, title="Charger not connected")

        async with connected(system, CP) as charger:
            assert system.commands.is_connected(CP)
            command = asyncio.create_task(
                system.commands.send(CP, "GetConfiguration", {"key": ["HeartbeatInterval"]})
            )
            frame = await charger.receive()
            assert frame[2:] == ["GetConfiguration", {"key": ["HeartbeatInterval"]}]
            await charger.send([3, frame[1], {"unknownKey": ["HeartbeatInterval"]}])
            assert await command == {"unknownKey": ["HeartbeatInterval"]}


async def test_commands_go_to_the_newest_connection_of_a_charger(system: CentralSystem) -> None:
    await system.operations.put_charge_point(CP, RegistrationStatus.ACCEPTED)
    async with connected(system, CP) as old, connected(system, CP) as new:
        command = asyncio.create_task(system.commands.send(CP, "Reset", {"type": "Soft"}))
        frame = await new.receive()
        assert frame[2:] == ["Reset", {"type": "Soft"}]
        await new.send([3, frame[1], {"status": "Accepted"}])
        assert await command == {"status": "Accepted"}
        # The old socket is closed by the server and never sees the command.
        with pytest.raises(ConnectionClosed):
            await old.receive()
        assert old.connection.close_code == 1000


# ------------------------------------------------------ the ocpp library's call style


async def test_library_style_call_returns_the_call_result_dataclass(
    system: CentralSystem,
) -> None:
    await system.operations.put_charge_point(CP, RegistrationStatus.ACCEPTED)
    async with connected(system, CP) as charger:
        charge_point = system.registry.get(CP)
        assert charge_point is not None
        request = asyncio.create_task(
            charge_point.call(call.GetConfiguration(key=["HeartbeatInterval"]))
        )
        frame = await charger.receive()
        assert frame[0] == 2
        assert frame[2:] == ["GetConfiguration", {"key": ["HeartbeatInterval"]}]
        await charger.send(
            [
                3,
                frame[1],
                {
                    "configurationKey": [
                        {"key": "HeartbeatInterval", "readonly": False, "value": "240"}
                    ],
                    "unknownKey": ["Nope"],
                },
            ]
        )
        result = await request
        assert isinstance(result, call_result.GetConfiguration)
        assert result.configuration_key == [
            {"key": "HeartbeatInterval", "readonly": False, "value": "240"}
        ]
        assert result.unknown_key == ["Nope"]

        # A CallError is raised, never swallowed, whatever ``suppress`` says.
        refused = asyncio.create_task(charge_point.call(call.Reset(type="Hard"), suppress=True))
        frame = await charger.receive()
        assert frame[2:] == ["Reset", {"type": "Hard"}]
        await charger.send([4, frame[1], "NotImplemented", "", {}])
        with pytest.raises(CommandRejected) as rejected:
            await refused
        assert rejected.value.code == "NotImplemented"


async def test_unreadable_duplicate_of_an_answered_reply_is_dropped(
    system: CentralSystem,
) -> None:
    await system.operations.put_charge_point(CP, RegistrationStatus.ACCEPTED)
    async with connected(system, CP) as charger:
        command = asyncio.create_task(system.commands.send(CP, "Reset", {"type": "Soft"}))
        frame = await charger.receive()
        await charger.send([3, frame[1], {"status": "Accepted"}])
        await charger.send([3, frame[1]])
        assert await command == {"status": "Accepted"}
        await heartbeat_round_trip(charger)
        assert system.commands.is_connected(CP)
