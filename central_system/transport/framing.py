"""Reading OCPP-J frames off the wire (OCPP-J 1.6 §4).

The ``ocpp`` library's ``unpack`` cannot tell us the unique id of a broken CALL,
raises the 2.x spelling ``FormatViolation``, and treats an unknown message type
as an error where OCPP-J says to ignore it. So the envelope is checked here and
the library's ``Call``/``CallResult``/``CallError`` classes carry what passed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TypeAlias

from ocpp.messages import Call, CallError, CallResult

from central_system.transport.errors import FormationViolationError, OCPPError

#: OCPP-J 1.6 §4.1.4: a unique id is at most 36 characters.
MAX_UNIQUE_ID = 36
#: The unique id of a CallError answering a frame whose own id could not be read.
UNREADABLE_ID = "-1"

CALL, CALL_RESULT, CALL_ERROR = 2, 3, 4


@dataclass(frozen=True, slots=True)
class BrokenCall:
    """A frame to be answered with a CallError."""

    unique_id: str
    error: OCPPError
    message_type: int | None = None
    action: str | None = None


@dataclass(frozen=True, slots=True)
class BrokenReply:
    """A CALLRESULT or CALLERROR that cannot be read; never answered (§4.2.3)."""

    unique_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Ignored:
    """A frame with a message type OCPP-J does not define; ignored (§4.1.3)."""

    message_type: int


Frame: TypeAlias = Call | CallResult | CallError | BrokenCall | BrokenReply | Ignored


def _violation(unique_id: str, cause: str, **details: object) -> BrokenCall:
    return BrokenCall(unique_id, FormationViolationError(details={"cause": cause, **details}))


def parse(raw: str | bytes) -> Frame:
    """One frame from the wire, or why it is broken."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _violation(UNREADABLE_ID, "frame is not UTF-8 text")
    try:
        message = json.loads(raw)
    except ValueError:
        return _violation(UNREADABLE_ID, "frame is not JSON")
    except RecursionError:
        return _violation(UNREADABLE_ID, "frame nests deeper than any OCPP message")
    if not isinstance(message, list) or not message:
        return _violation(UNREADABLE_ID, "frame is not a non-empty JSON array")
    message_type = message[0]
    unique_id = message[1] if len(message) > 1 else None
    readable_id = (
        unique_id
        if isinstance(unique_id, str) and 0 < len(unique_id) <= MAX_UNIQUE_ID
        else UNREADABLE_ID
    )
    if isinstance(message_type, bool) or not isinstance(message_type, int):
        return _violation(readable_id, "MessageTypeId is not a number")
    if message_type == CALL:
        return _call(message, readable_id)
    if message_type in (CALL_RESULT, CALL_ERROR):
        return _reply(message)
    return Ignored(message_type)


def _call(message: list[object], readable_id: str) -> Call | BrokenCall:
    if len(message) != 4:
        return _violation(readable_id, f"a CALL has 4 elements, this one {len(message)}")
    _, unique_id, action, payload = message
    if not isinstance(unique_id, str) or not unique_id:
        return _violation(UNREADABLE_ID, "UniqueId is not a non-empty string")
    if len(unique_id) > MAX_UNIQUE_ID:
        return _violation(unique_id, f"UniqueId is longer than {MAX_UNIQUE_ID} characters")
    if not isinstance(action, str) or not action:
        return _violation(unique_id, "Action is not a non-empty string")
    if not isinstance(payload, dict):
        return BrokenCall(
            unique_id,
            FormationViolationError(details={"cause": "Payload is not a JSON object"}),
            CALL,
            action,
        )
    return Call(unique_id=unique_id, action=action, payload=payload)


def _reply(message: list[object]) -> CallResult | CallError | BrokenReply:
    unique_id = message[1] if len(message) > 1 and isinstance(message[1], str) else None
    if unique_id is None:
        return BrokenReply(None, "UniqueId is not a string")
    if message[0] == CALL_RESULT:
        if len(message) != 3 or not isinstance(message[2], dict):
            return BrokenReply(unique_id, "a CALLRESULT is [3, id, {payload}]")
        return CallResult(unique_id=unique_id, payload=message[2])
    if (
        len(message) != 5
        or not isinstance(message[2], str)
        or not isinstance(message[3], str)
        or not isinstance(message[4], dict)
    ):
        return BrokenReply(unique_id, "a CALLERROR is [4, id, code, description, {details}]")
    return CallError(
        unique_id=unique_id,
        error_code=message[2],
        error_description=message[3],
        error_details=message[4],
    )
