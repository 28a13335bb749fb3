"""Reading OCPP-J frames: what passes, and the 1.6 CallError for what does not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.messages import Call, CallError, CallResult

from central_system.transport.framing import (
    MAX_UNIQUE_ID,
    UNREADABLE_ID,
    BrokenCall,
    BrokenReply,
    Ignored,
    parse,
)

FORMATION_VIOLATION = "FormationViolation"  # the OCPP-J 1.6 spelling, §4.2.3


def _frame(*elements: Any) -> str:
    return json.dumps(list(elements))


def _broken_call(raw: str | bytes) -> BrokenCall:
    frame = parse(raw)
    assert isinstance(frame, BrokenCall), frame
    return frame


# ------------------------------------------------------------------ valid frames


def test_call() -> None:
    frame = parse(_frame(2, "19223201", "BootNotification", {"chargePointVendor": "V"}))
    assert isinstance(frame, Call)
    assert frame.unique_id == "19223201"
    assert frame.action == "BootNotification"
    assert frame.payload == {"chargePointVendor": "V"}


def test_call_from_utf8_bytes() -> None:
    frame = parse(_frame(2, "1", "Authorize", {"idTag": "ÄÖÜ"}).encode())
    assert isinstance(frame, Call)
    assert frame.payload == {"idTag": "ÄÖÜ"}


def test_call_with_empty_payload() -> None:
    frame = parse(_frame(2, "1", "Heartbeat", {}))
    assert isinstance(frame, Call)
    assert frame.payload == {}


def test_call_result() -> None:
    frame = parse(_frame(3, "42", {"status": "Accepted"}))
    assert isinstance(frame, CallResult)
    assert frame.unique_id == "42"
    assert frame.payload == {"status": "Accepted"}


def test_call_error() -> None:
    frame = parse(_frame(4, "42", "NotSupported", "no such thing", {"why": "x"}))
    assert isinstance(frame, CallError)
    assert frame.unique_id == "42"
    assert frame.error_code == "NotSupported"
    assert frame.error_description == "no such thing"
    assert frame.error_details == {"why": "x"}


# ------------------------------------------------------------ unreadable frames


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("not json", id="not JSON"),
        pytest.param('[2, "1", "Heartbeat", {}', id="truncated"),
        pytest.param("", id="empty frame"),
        pytest.param(b"\xff\xfe[2]", id="bytes that are not UTF-8"),
        pytest.param(b'[2, "1", "Authorize", {"idTag": "\xc3"}]', id="cut UTF-8 sequence"),
        pytest.param('{"messageTypeId": 2}', id="JSON object"),
        pytest.param('"[2, \\"1\\", \\"Heartbeat\\", {}]"', id="JSON string"),
        pytest.param("2", id="JSON number"),
        pytest.param("null", id="JSON null"),
        pytest.param("[]", id="empty list"),
    ],
)
def test_unreadable_frame_is_a_formation_violation_with_id_minus_one(raw: str | bytes) -> None:
    frame = _broken_call(raw)
    assert frame.unique_id == UNREADABLE_ID == "-1"
    assert frame.error.code == FORMATION_VIOLATION


# ---------------------------------------------------------------- broken CALLs


@pytest.mark.parametrize(
    ("elements", "unique_id"),
    [
        pytest.param((2,), UNREADABLE_ID, id="only a type"),
        pytest.param((2, "abc"), "abc", id="2 elements"),
        pytest.param((2, "abc", "Heartbeat"), "abc", id="3 elements keep the id"),
        pytest.param((2, "abc", "Heartbeat", {}, {}), "abc", id="5 elements keep the id"),
        pytest.param((2, 17, "Heartbeat", {}), UNREADABLE_ID, id="numeric id"),
        pytest.param((2, "", "Heartbeat", {}), UNREADABLE_ID, id="empty id"),
        pytest.param((2, None, "Heartbeat", {}), UNREADABLE_ID, id="null id"),
        pytest.param(("2", "abc", "Heartbeat", {}), "abc", id="MessageTypeId as a string"),
        pytest.param((2.0, "abc", "Heartbeat", {}), "abc", id="MessageTypeId as a float"),
        pytest.param((True, "abc", "Heartbeat", {}), "abc", id="MessageTypeId as a boolean"),
        pytest.param((None, "abc", "Heartbeat", {}), "abc", id="MessageTypeId null"),
        pytest.param((2, "abc", 5, {}), "abc", id="numeric action"),
        pytest.param((2, "abc", None, {}), "abc", id="null action"),
        pytest.param((2, "abc", "", {}), "abc", id="empty action"),
        pytest.param((2, "abc", "Heartbeat", None), "abc", id="null payload"),
        pytest.param((2, "abc", "Heartbeat", []), "abc", id="list payload"),
        pytest.param((2, "abc", "Heartbeat", "{}"), "abc", id="string payload"),
    ],
)
def test_broken_call_is_a_formation_violation(elements: tuple[Any, ...], unique_id: str) -> None:
    frame = _broken_call(_frame(*elements))
    assert frame.error.code == FORMATION_VIOLATION
    assert frame.error.code != "FormatViolation"
    assert frame.unique_id == unique_id
    assert frame.error.details["cause"]


@pytest.mark.parametrize("payload", [None, [], [{"idTag": "A"}]])
def test_call_with_a_payload_that_is_not_an_object_keeps_action(payload: object) -> None:
    frame = _broken_call(_frame(2, "abc", "Authorize", payload))
    assert (frame.message_type, frame.action) == (2, "Authorize")


def test_unique_id_of_37_characters_is_refused() -> None:
    too_long = "x" * (MAX_UNIQUE_ID + 1)
    assert len(too_long) == 37
    frame = _broken_call(_frame(2, too_long, "Heartbeat", {}))
    assert frame.error.code == FORMATION_VIOLATION
    assert "36" in str(frame.error.details["cause"])


def test_unique_id_of_36_characters_is_accepted() -> None:
    longest = "0123456789abcdef0123456789abcdef0123"
    assert len(longest) == MAX_UNIQUE_ID == 36
    frame = parse(_frame(2, longest, "Heartbeat", {}))
    assert isinstance(frame, Call)
    assert frame.unique_id == longest


def test_a_37_character_id_is_not_echoed_on_an_arity_error() -> None:
    # The id cannot be trusted when the frame is broken before it is checked.
    frame = _broken_call(_frame(2, "y" * 37, "Heartbeat"))
    assert frame.unique_id == UNREADABLE_ID


def test_deeply_nested_frame_is_a_formation_violation() -> None:
    depth = 5_000
    frame = _broken_call("[" * depth + "]" * depth)
    assert frame.error.code == FORMATION_VIOLATION


# ---------------------------------------------------------- unknown types


@pytest.mark.parametrize("message_type", [0, 1, 5, 7, -2, 99])
def test_unknown_message_type_is_ignored(message_type: int) -> None:
    frame = parse(_frame(message_type, "abc", "Heartbeat", {}))
    assert frame == Ignored(message_type)


# ---------------------------------------------------------------- broken replies


@pytest.mark.parametrize(
    ("elements", "unique_id"),
    [
        pytest.param((3,), None, id="CALLRESULT without id"),
        pytest.param((3, 42, {}), None, id="CALLRESULT with a numeric id"),
        pytest.param((3, "abc"), "abc", id="CALLRESULT without payload"),
        pytest.param((3, "abc", None), "abc", id="CALLRESULT with null payload"),
        pytest.param((3, "abc", []), "abc", id="CALLRESULT with list payload"),
        pytest.param((3, "abc", {}, {}), "abc", id="CALLRESULT with 4 elements"),
        pytest.param((4, "abc", "GenericError", "x"), "abc", id="CALLERROR without details"),
        pytest.param((4, "abc", "GenericError", "x", None), "abc", id="CALLERROR null details"),
        pytest.param((4, "abc", 5, "x", {}), "abc", id="CALLERROR numeric code"),
        pytest.param((4, "abc", "GenericError", None, {}), "abc", id="CALLERROR null description"),
        pytest.param((4, None, "GenericError", "x", {}), None, id="CALLERROR null id"),
        pytest.param((4, "abc", "GenericError", "x", {}, 1), "abc", id="CALLERROR 6 elements"),
    ],
)
def test_broken_reply(elements: tuple[Any, ...], unique_id: str | None) -> None:
    frame = parse(_frame(*elements))
    assert isinstance(frame, BrokenReply)
    assert frame.unique_id == unique_id
    assert frame.reason


# ---------------------------------------------------------------- never raises

_json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
_json = st.recursive(
    _json_leaf,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
_frame_like = st.tuples(
    st.sampled_from([2, 3, 4, 5, "2", True, None, 2.0]) | _json_leaf,
    st.text(max_size=40) | _json_leaf,
).flatmap(lambda head: st.lists(_json, max_size=4).map(lambda tail: [*head, *tail]))


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.text()
    | st.binary()
    | _json.map(json.dumps)
    | _frame_like.map(json.dumps)
    | _frame_like.map(lambda frame: json.dumps(frame).encode())
)
def test_parse_never_raises(raw: str | bytes) -> None:
    frame = parse(raw)
    assert isinstance(frame, Call | CallResult | CallError | BrokenCall | BrokenReply | Ignored)
    if isinstance(frame, BrokenCall):
        assert frame.error.code == FORMATION_VIOLATION
        assert isinstance(frame.unique_id, str)
        assert frame.unique_id
