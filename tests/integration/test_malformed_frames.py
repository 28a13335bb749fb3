"""Broken, unexpected and quirky frames from a charger, against the real server.

OCPP-J 1.6 §4.2.3: a CALL that cannot be taken is answered with a CALLERROR
``[4, uniqueId, errorCode, errorDescription, {errorDetails}]`` in the 1.6
spelling; frames of an unknown message type are ignored (§4.1.3); either way
the connection stays open and nothing is logged as an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from central_system.domain.model import EventKind, IdTag, RegistrationStatus
from central_system.persistence.tables import MeterValueRow
from central_system.ports import Page
from central_system.system import CentralSystem
from tests.chargers import RawCharger, raw_charger
from tests.conftest import ocpp_url

CHARGER = "CP-X"
#: The id of a CALLERROR answering a frame whose own unique id cannot be read.
UNREADABLE = "-1"
#: OCPP-J 1.6 §4.2.3, word for word.
NOT_IMPLEMENTED = "Requested Action is not known by receiver"
NOT_SUPPORTED = "Requested Action is recognized but not supported by the receiver"


@pytest.fixture
async def charger(
    system: CentralSystem, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[RawCharger]:
    caplog.set_level(logging.DEBUG)
    await system.operations.put_charge_point(CHARGER, RegistrationStatus.ACCEPTED)
    async with raw_charger(ocpp_url(system, CHARGER)) as connected:
        yield connected


def assert_call_error(frame: list[Any], unique_id: str, code: str) -> dict[str, Any]:
    """``frame`` is a 1.6 CALLERROR for ``unique_id`` with ``code``; returns its details."""
    assert len(frame) == 5, frame
    message_type, answered_id, error_code, description, details = frame
    assert message_type == 4, frame
    assert answered_id == unique_id, frame
    assert error_code == code, frame
    assert isinstance(description, str), frame
    assert description, frame
    assert isinstance(details, dict), frame
    return details


async def assert_still_served(charger: RawCharger, unique_id: str = "after") -> None:
    answer = await charger.call(unique_id, "Heartbeat", {})
    assert answer[:2] == [3, unique_id], answer
    assert answer[2]["currentTime"].endswith("Z")


def assert_nothing_logged_as_error(caplog: pytest.LogCaptureFixture) -> None:
    bad = [
        f"{record.name} {record.levelname}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.ERROR or record.exc_info is not None
    ]
    assert bad == []


LONG_ID = "u" * 37

# (frame as sent, unique id of the answer, error code, what the details must hold)
MALFORMED: list[Any] = [
    pytest.param("this is not JSON", UNREADABLE, "FormationViolation", {}, id="not-json"),
    pytest.param(b"\xff\xfe[2]", UNREADABLE, "FormationViolation", {}, id="binary-not-utf8"),
    pytest.param([2, "arity-3", "Heartbeat"], "arity-3", "FormationViolation", {}, id="call-of-3"),
    pytest.param(
        [2, "arity-5", "Heartbeat", {}, {}], "arity-5", "FormationViolation", {}, id="call-of-5"
    ),
    pytest.param([2], UNREADABLE, "FormationViolation", {}, id="call-of-1"),
    pytest.param([], UNREADABLE, "FormationViolation", {}, id="empty-array"),
    pytest.param(
        {"messageTypeId": 2, "uniqueId": "obj", "action": "Heartbeat", "payload": {}},
        UNREADABLE,
        "FormationViolation",
        {},
        id="object-not-array",
    ),
    pytest.param(
        ["2", "type-as-string", "Heartbeat", {}],
        "type-as-string",
        "FormationViolation",
        {},
        id="message-type-as-string",
    ),
    pytest.param(
        [2, 17, "Heartbeat", {}], UNREADABLE, "FormationViolation", {}, id="unique-id-number"
    ),
    # Too long, but readable: echoed, so that the charger can match the answer to its call.
    pytest.param([2, LONG_ID, "Heartbeat", {}], LONG_ID, "FormationViolation", {}, id="id-of-37"),
    pytest.param(
        [2, "null-payload", "Heartbeat", None],
        "null-payload",
        "FormationViolation",
        {},
        id="null-payload",
    ),
    pytest.param(
        [2, "list-payload", "Heartbeat", []],
        "list-payload",
        "FormationViolation",
        {},
        id="array-payload",
    ),
    pytest.param(
        [2, "no-action", 42, {}], "no-action", "FormationViolation", {}, id="action-not-string"
    ),
    pytest.param(
        [2, "foo", "FooBar", {}],
        "foo",
        "NotImplemented",
        {"action": "FooBar"},
        id="unknown-action",
    ),
    pytest.param(
        [2, "rst", "RemoteStartTransaction", {"idTag": "TAG-1"}],
        "rst",
        "NotSupported",
        {"action": "RemoteStartTransaction"},
        id="central-system-action",
    ),
    pytest.param(
        [2, "boot", "BootNotification", {"chargePointVendor": "Acme"}],
        "boot",
        "OccurenceConstraintViolation",
        {},
        id="missing-required-field",
    ),
    pytest.param(
        [2, "auth", "Authorize", {"idTag": 42}],
        "auth",
        "TypeConstraintViolation",
        {"path": "idTag"},
        id="wrong-type",
    ),
    pytest.param(
        [2, "extra", "Heartbeat", {"unexpected": True}],
        "extra",
        "FormationViolation",
        {},
        id="extra-field",
    ),
    pytest.param(
        [
            2,
            "enum",
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "available"},
        ],
        "enum",
        "PropertyConstraintViolation",
        {"path": "status"},
        id="bad-enum",
    ),
    pytest.param(
        [2, "long-tag", "Authorize", {"idTag": "T" * 21}],
        "long-tag",
        "PropertyConstraintViolation",
        {"path": "idTag"},
        id="string-too-long",
    ),
]


@pytest.mark.parametrize(("frame", "unique_id", "code", "details"), MALFORMED)
async def test_a_malformed_call_gets_a_16_call_error_and_the_connection_survives(
    charger: RawCharger,
    caplog: pytest.LogCaptureFixture,
    frame: Any,
    unique_id: str,
    code: str,
    details: dict[str, Any],
) -> None:
    if isinstance(frame, bytes):
        await charger.connection.send(frame)
    else:
        await charger.send(frame)
    answer = await charger.receive()
    got = assert_call_error(answer, unique_id, code)
    assert details.items() <= got.items(), got
    await assert_still_served(charger)
    assert_nothing_logged_as_error(caplog)


async def test_the_descriptions_of_not_implemented_and_not_supported_are_the_16_ones(
    charger: RawCharger,
) -> None:
    unknown = await charger.call("foo", "FooBar", {})
    misdirected = await charger.call("rst", "RemoteStartTransaction", {"idTag": "TAG-1"})
    assert unknown[3] == NOT_IMPLEMENTED
    assert misdirected[3] == NOT_SUPPORTED


async def test_a_missing_field_is_named_in_the_details(charger: RawCharger) -> None:
    answer = await charger.call("boot", "BootNotification", {"chargePointVendor": "Acme"})
    details = assert_call_error(answer, "boot", "OccurenceConstraintViolation")
    assert "chargePointModel" in details["cause"]


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param([5, "x", {}], id="unknown-message-type"),
        pytest.param([7, "y", "Heartbeat", {}], id="another-unknown-type"),
        pytest.param([3, "nobody-asked", {}], id="unmatched-callresult"),
        pytest.param([4, "nobody-asked", "GenericError", "", {}], id="unmatched-callerror"),
        pytest.param([3], id="unreadable-callresult"),
        pytest.param([4, "short"], id="unreadable-callerror"),
    ],
)
async def test_a_frame_that_is_no_call_is_never_answered(
    charger: RawCharger, caplog: pytest.LogCaptureFixture, frame: list[Any]
) -> None:
    await charger.send(frame)
    # The Heartbeat's answer is the very next frame: nothing answered the first.
    await assert_still_served(charger)
    assert_nothing_logged_as_error(caplog)


async def test_a_unique_id_in_use_gets_a_protocol_error(
    system: CentralSystem,
    charger: RawCharger,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()
    heartbeat = system.sessions.heartbeat

    async def held_heartbeat(charge_point_id: str) -> datetime:
        entered.set()
        await release.wait()
        return await heartbeat(charge_point_id)

    monkeypatch.setattr(system.sessions, "heartbeat", held_heartbeat)
    try:
        await charger.send([2, "dup", "Heartbeat", {}])
        async with asyncio.timeout(5):
            await entered.wait()  # the first call with this id is being handled
        await charger.send([2, "dup", "Heartbeat", {}])
        assert_call_error(await charger.receive(), "dup", "ProtocolError")
    finally:
        release.set()
    first = await charger.receive()
    assert first[:2] == [3, "dup"]
    assert "currentTime" in first[2]
    # Answered, the id is free again (1.6 asks uniqueness only of calls in flight).
    await assert_still_served(charger, "dup")
    assert_nothing_logged_as_error(caplog)


# -------------------------------------------------------------- lenient transaction messages


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


async def test_meter_values_with_quirks_are_acknowledged_stored_and_flagged(
    system: CentralSystem, charger: RawCharger, caplog: pytest.LogCaptureFixture
) -> None:
    await system.operations.put_id_tag(IdTag("TAG-1"))
    started = await charger.call(
        "start",
        "StartTransaction",
        {"connectorId": 1, "idTag": "TAG-1", "meterStart": 0, "timestamp": _now()},
    )
    assert started[:2] == [3, "start"]
    transaction_id = started[2]["transactionId"]

    answer = await charger.call(
        "mv-1",
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            # An object where 1.6 wants a list, and a measurand 1.6 does not know.
            "meterValue": {
                "timestamp": _now(),
                "sampledValue": [
                    {"value": "7.5", "measurand": "Request.Energy", "unit": "kWh"},
                    {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                ],
            },
        },
    )
    assert answer == [3, "mv-1", {}]

    async with system.database.read_sessions() as session:
        rows = (
            await session.scalars(
                select(MeterValueRow)
                .where(MeterValueRow.charge_point_id == CHARGER)
                .order_by(MeterValueRow.id)
            )
        ).all()
    assert [(r.transaction_id, r.value, r.measurand, r.unit, r.source) for r in rows] == [
        (transaction_id, "7.5", "Request.Energy", "kWh", "MeterValues"),
        (transaction_id, "1500", "Energy.Active.Import.Register", "Wh", "MeterValues"),
    ]

    flagged = [
        event
        for event in await system.operations.events(Page(), CHARGER)
        if event.kind is EventKind.SCHEMA_QUIRK_ACCEPTED
    ]
    assert len(flagged) == 1
    assert flagged[0].detail["action"] == "MeterValues"
    assert flagged[0].detail["unique_id"] == "mv-1"
    quirks = flagged[0].detail["quirks"]
    assert isinstance(quirks, list)
    assert any("Request.Energy" in quirk for quirk in quirks), quirks
    assert any(quirk.startswith("meterValue") and "list" in quirk for quirk in quirks), quirks
    await assert_still_served(charger)
    assert_nothing_logged_as_error(caplog)


async def test_a_strict_message_with_the_same_enum_quirk_is_refused(charger: RawCharger) -> None:
    """Leniency is for transaction messages only; elsewhere an unknown enum is an error."""
    answer = await charger.call(
        "status",
        "StatusNotification",
        {"connectorId": 1, "errorCode": "Error", "status": "Available"},
    )
    details = assert_call_error(answer, "status", "PropertyConstraintViolation")
    assert details["path"] == "errorCode"
