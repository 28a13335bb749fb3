"""OCPP 1.6 schema validation and the 1.6 CallError code for each failure."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16.enums import Action

from central_system.transport import validation
from central_system.transport.validation import (
    CENTRAL_SYSTEM_ACTIONS,
    CHARGER_ACTIONS,
    check_call,
    check_outgoing,
    check_reply,
)

OCCURENCE = "OccurenceConstraintViolation"  # sic: the OCPP-J 1.6 spelling
TYPE = "TypeConstraintViolation"
PROPERTY = "PropertyConstraintViolation"
FORMATION = "FormationViolation"  # sic: the OCPP-J 1.6 spelling

WHEN = "2026-11-24T12:00:00Z"
BOOT = {"chargePointVendor": "Garage", "chargePointModel": "Wallbox"}
STATUS = {"connectorId": 1, "status": "Available", "errorCode": "NoError"}
START = {"connectorId": 1, "idTag": "TAG1", "meterStart": 0, "timestamp": WHEN}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**base, **changes}


def _without(base: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in base.items() if k != key}


def _refused(action: str, payload: dict[str, Any]) -> OCPPError:
    with pytest.raises(OCPPError) as caught:
        check_call(action, payload)
    return caught.value


def _sample(**fields: Any) -> dict[str, Any]:
    return {"value": "1234", **fields}


def _meter_values(meter_value: Any) -> dict[str, Any]:
    return {"connectorId": 1, "transactionId": 7, "meterValue": meter_value}


# ------------------------------------------------------------------ strict calls


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("BootNotification", BOOT),
        ("Heartbeat", {}),
        ("StatusNotification", STATUS),
        ("StartTransaction", START),
        ("Authorize", {"idTag": "TAG1"}),
        ("MeterValues", _meter_values([{"timestamp": WHEN, "sampledValue": [_sample()]}])),
    ],
)
def test_valid_call_passes_unchanged(action: str, payload: dict[str, Any]) -> None:
    checked = check_call(action, payload)
    assert checked.payload == payload
    assert checked.quirks == []


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        pytest.param(
            "BootNotification", _without(BOOT, "chargePointModel"), OCCURENCE, id="missing"
        ),
        pytest.param("Authorize", {}, OCCURENCE, id="missing idTag"),
        pytest.param(
            "BootNotification", _with(BOOT, chargePointVendor=5), TYPE, id="number for string"
        ),
        pytest.param("StatusNotification", _with(STATUS, connectorId="1"), TYPE, id="string id"),
        pytest.param("StartTransaction", _with(START, meterStart=1.5), TYPE, id="float meter"),
        pytest.param("BootNotification", _with(BOOT, colour="red"), FORMATION, id="unknown key"),
        pytest.param("Heartbeat", {"now": WHEN}, FORMATION, id="unknown key in Heartbeat"),
        pytest.param(
            "StatusNotification", _with(STATUS, status="available"), PROPERTY, id="wrong-case enum"
        ),
        pytest.param(
            "StatusNotification", _with(STATUS, status="Broken"), PROPERTY, id="unknown enum"
        ),
        pytest.param(
            "BootNotification", _with(BOOT, chargePointVendor="V" * 21), PROPERTY, id="too long"
        ),
        pytest.param("Authorize", {"idTag": "T" * 21}, PROPERTY, id="idTag of 21 characters"),
    ],
)
def test_strict_call_refused_with_the_16_code(
    action: str, payload: dict[str, Any], code: str
) -> None:
    error = _refused(action, payload)
    assert error.code == code
    assert error.details["cause"]


def test_refusal_names_the_offending_path() -> None:
    error = _refused("BootNotification", _with(BOOT, chargePointVendor="V" * 21))
    assert error.details["path"] == "chargePointVendor"


def test_status_notification_error_code_error_is_refused() -> None:
    # "Error" is a field quirk, but StatusNotification is not a transaction message.
    error = _refused("StatusNotification", _with(STATUS, errorCode="Error"))
    assert error.code == PROPERTY
    assert error.details["path"] == "errorCode"


# ---------------------------------------------------------- lenient transactions


def test_meter_value_sent_as_object_is_wrapped_and_reported() -> None:
    payload = _meter_values({"timestamp": WHEN, "sampledValue": [_sample()]})
    original = copy.deepcopy(payload)
    checked = check_call("MeterValues", payload)
    assert checked.payload["meterValue"] == [{"timestamp": WHEN, "sampledValue": [_sample()]}]
    assert checked.quirks == ["meterValue: object wrapped in a list"]
    assert payload == original  # the caller's payload is left alone


def test_sampled_value_sent_as_object_is_wrapped_and_reported() -> None:
    payload = _meter_values([{"timestamp": WHEN, "sampledValue": _sample()}])
    checked = check_call("MeterValues", payload)
    assert checked.payload["meterValue"][0]["sampledValue"] == [_sample()]
    assert checked.quirks == ["meterValue/0/sampledValue: object wrapped in a list"]


def test_transaction_data_sent_as_object_is_wrapped_in_stop_transaction() -> None:
    payload = {
        "transactionId": 7,
        "meterStop": 2000,
        "timestamp": WHEN,
        "transactionData": {"timestamp": WHEN, "sampledValue": [_sample()]},
    }
    checked = check_call("StopTransaction", payload)
    assert checked.payload["transactionData"] == [{"timestamp": WHEN, "sampledValue": [_sample()]}]
    assert checked.quirks == ["transactionData: object wrapped in a list"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("measurand", "Request.Energy"), ("unit", "Hz")],
)
def test_out_of_16_enum_in_sampled_value_is_kept_and_reported(field: str, value: str) -> None:
    payload = _meter_values([{"timestamp": WHEN, "sampledValue": [_sample(**{field: value})]}])
    checked = check_call("MeterValues", payload)
    assert checked.payload["meterValue"][0]["sampledValue"][0][field] == value
    assert checked.quirks == [f"meterValue/0/sampledValue/0/{field}: {value!r} kept"]


def test_quirks_combine() -> None:
    sample = _sample(measurand="Request.Energy", unit="Hz")
    checked = check_call("MeterValues", _meter_values({"timestamp": WHEN, "sampledValue": sample}))
    assert checked.payload["meterValue"] == [{"timestamp": WHEN, "sampledValue": [sample]}]
    assert sorted(checked.quirks) == sorted(
        [
            "meterValue: object wrapped in a list",
            "meterValue/0/sampledValue: object wrapped in a list",
            "meterValue/0/sampledValue/0/measurand: 'Request.Energy' kept",
            "meterValue/0/sampledValue/0/unit: 'Hz' kept",
        ]
    )


def test_out_of_16_measurand_in_stop_transaction_data_is_kept() -> None:
    payload = {
        "transactionId": 7,
        "meterStop": 2000,
        "timestamp": WHEN,
        "transactionData": [
            {"timestamp": WHEN, "sampledValue": [_sample(measurand="Request.Energy")]}
        ],
    }
    checked = check_call("StopTransaction", payload)
    assert checked.payload == payload
    assert checked.quirks == ["transactionData/0/sampledValue/0/measurand: 'Request.Energy' kept"]


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        pytest.param(
            "MeterValues",
            {"meterValue": {"timestamp": WHEN, "sampledValue": [_sample(unit="Hz")]}},
            OCCURENCE,
            id="MeterValues without connectorId, with quirks",
        ),
        pytest.param(
            "StopTransaction",
            {
                "meterStop": 2000,
                "timestamp": WHEN,
                "transactionData": {"timestamp": WHEN, "sampledValue": [_sample()]},
            },
            OCCURENCE,
            id="StopTransaction without transactionId, with quirks",
        ),
        pytest.param(
            "StartTransaction", _without(START, "idTag"), OCCURENCE, id="StartTransaction no idTag"
        ),
        pytest.param(
            "MeterValues",
            _meter_values([{"timestamp": WHEN, "sampledValue": [{"unit": "Wh"}]}]),
            OCCURENCE,
            id="sampled value without value",
        ),
        pytest.param(
            "StopTransaction",
            {"transactionId": 7, "meterStop": 2000, "timestamp": WHEN, "reason": "Tired"},
            PROPERTY,
            id="enum outside a sampled value is not tolerated",
        ),
        pytest.param(
            "MeterValues",
            _meter_values([{"timestamp": WHEN, "sampledValue": [_sample()], "extra": 1}]),
            FORMATION,
            id="unknown key in a meter value",
        ),
        pytest.param("MeterValues", _meter_values("lots"), TYPE, id="meterValue as a string"),
    ],
)
def test_transaction_message_that_cannot_be_taken_still_raises(
    action: str, payload: dict[str, Any], code: str
) -> None:
    assert _refused(action, payload).code == code


# ------------------------------------------------------------------ outgoing


def _remote_start(limit: float = 16.1) -> dict[str, Any]:
    return {
        "connectorId": 1,
        "idTag": "TAG1",
        "chargingProfile": {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
            },
        },
    }


# 7.1 / 0.1 and 10.1 / 0.1 are not whole numbers in binary floating point.
@pytest.mark.parametrize("limit", [16.1, 7.1, 10.1, 32.0, 6])
def test_outgoing_decimal_limit_is_valid(limit: float) -> None:
    assert check_outgoing("RemoteStartTransaction", _remote_start(limit)) is None


def test_outgoing_limit_with_two_decimals_is_refused() -> None:
    error = check_outgoing("RemoteStartTransaction", _remote_start(16.15))
    assert error is not None
    assert error.code == PROPERTY


def test_outgoing_without_id_tag_is_refused() -> None:
    payload = _remote_start()
    del payload["idTag"]
    error = check_outgoing("RemoteStartTransaction", payload)
    assert error is not None
    assert error.code == OCCURENCE


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        ("Reset", {"type": "Hard"}, None),
        ("Reset", {"type": "hard"}, PROPERTY),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": "300"}, None),
        ("ChangeConfiguration", {"key": "HeartbeatInterval", "value": 300}, TYPE),
        ("RemoteStopTransaction", {}, OCCURENCE),
        ("ClearCache", {"now": True}, FORMATION),
    ],
)
def test_check_outgoing(action: str, payload: dict[str, Any], code: str | None) -> None:
    error = check_outgoing(action, payload)
    assert (None if error is None else error.code) == code


# ------------------------------------------------------------------ replies


@pytest.mark.parametrize(
    ("action", "payload", "code"),
    [
        pytest.param(
            "BootNotification",
            {"status": "Accepted", "currentTime": "2026-11-24T12:00:00.000Z", "interval": 300},
            None,
            id="valid boot answer",
        ),
        pytest.param(
            "BootNotification",
            {"status": "Accepted", "currentTime": "2026-11-24T12:00:00.000Z"},
            OCCURENCE,
            id="boot answer without interval",
        ),
        pytest.param("Heartbeat", {"currentTime": 5}, TYPE, id="numeric currentTime"),
        pytest.param("RemoteStartTransaction", {"status": "Accepted"}, None, id="valid"),
        pytest.param("RemoteStartTransaction", {"status": "Maybe"}, PROPERTY, id="bad status"),
        pytest.param(
            "RemoteStartTransaction",
            {"status": "Accepted", "reason": "x"},
            FORMATION,
            id="unknown key",
        ),
        pytest.param(
            "StartTransaction",
            {"transactionId": 1, "idTagInfo": {"status": "Accepted"}},
            None,
            id="valid start answer",
        ),
        pytest.param(
            "StartTransaction",
            {"transactionId": 1, "idTagInfo": {"status": "Unknown"}},
            PROPERTY,
            id="start answer with a bad tag status",
        ),
        pytest.param("StopTransaction", {}, None, id="stop answer may be empty"),
    ],
)
def test_check_reply(action: str, payload: dict[str, Any], code: str | None) -> None:
    error = check_reply(action, payload)
    assert (None if error is None else error.code) == code


# ------------------------------------------------------------------ actions


def test_every_ocpp16_action_is_sent_by_someone() -> None:
    every_action = {action.value for action in Action}
    assert every_action == CHARGER_ACTIONS | CENTRAL_SYSTEM_ACTIONS
    assert every_action == validation.ALL_ACTIONS


def test_data_transfer_goes_both_ways_and_nothing_else_does() -> None:
    both_ways = CHARGER_ACTIONS & CENTRAL_SYSTEM_ACTIONS
    assert both_ways == {"DataTransfer"}


def _code_for_empty_call(action: str) -> str | None:
    try:
        check_call(action, {})
    except OCPPError as error:
        return str(error.code)
    return None


@pytest.mark.parametrize("action", sorted(CHARGER_ACTIONS))
def test_every_charger_action_has_a_call_schema(action: str) -> None:
    # An empty payload is either valid or refused with a 1.6 code; never a missing schema.
    assert _code_for_empty_call(action) in {None, OCCURENCE, TYPE, PROPERTY, FORMATION}


@pytest.mark.parametrize("action", sorted(CENTRAL_SYSTEM_ACTIONS))
def test_every_central_system_action_has_call_and_reply_schemas(action: str) -> None:
    for error in (check_outgoing(action, {}), check_reply(action, {})):
        assert error is None or error.code in {OCCURENCE, TYPE, PROPERTY, FORMATION}


def test_a_payload_seen_valid_is_remembered_and_nothing_else_is() -> None:
    valid = {"connectorId": 1, "errorCode": "NoError", "status": "Available"}
    # The same values, one of them of the wrong JSON type: a different payload.
    wrong_type = {"connectorId": "1", "errorCode": "NoError", "status": "Available"}
    validation._VALID.clear()

    assert validation.check_call("StatusNotification", valid).payload == valid
    assert len(validation._VALID) == 1
    assert validation.check_call("StatusNotification", dict(reversed(valid.items()))).quirks == []
    assert len(validation._VALID) == 1  # key order does not matter
    for _ in range(2):
        assert _refused("StatusNotification", wrong_type).code == TYPE
    assert validation.check_reply("StatusNotification", {"unexpected": 1}) is not None


def test_the_remembered_payloads_are_bounded() -> None:
    validation._VALID.clear()
    for n in range(validation._VALID_LIMIT + 10):
        validation.check_call("Authorize", {"idTag": f"TAG-{n}"})

    assert len(validation._VALID) == validation._VALID_LIMIT
    assert (validation.CALL, "Authorize", '{"idTag": "TAG-0"}') not in validation._VALID
