"""OCPP 1.6 schema validation with the library's validators, and 1.6 error codes.

The validators are the ``ocpp`` library's (its bundled 1.6 JSON schemas, cached
``Draft4Validator``s); ``preload`` reads every schema once at start, so no file
is read on the event loop. What differs from the library is the mapping from a
schema failure to an OCPP-J 1.6 CallError code (the library answers with the 2.x
spelling ``FormatViolation``, and calls an enum or length failure a format one):

==================================================  ===============================
schema keyword that failed                          CallError code
==================================================  ===============================
required, minItems, maxItems                        OccurenceConstraintViolation
type                                                TypeConstraintViolation
enum, maxLength, minLength, minimum, maximum,       PropertyConstraintViolation
pattern, format, multipleOf
additionalProperties, anything else                 FormationViolation
==================================================  ===============================

Transaction messages (StartTransaction, StopTransaction, MeterValues) are read
leniently where the field is known to stray (RELIABILITY.md §4): a ``meterValue``,
``transactionData`` or ``sampledValue`` sent as an object instead of a list is
wrapped, and a sampled value with an enum outside 1.6 (``Request.Energy``, unit
``Hz``) is kept as sent. Such a message is acknowledged and flagged, because a
CallError on a transaction message makes the charger retry and finally drop it.
"""

from __future__ import annotations

import copy
import decimal
import json
from dataclasses import dataclass, field
from typing import Any

from jsonschema.exceptions import ValidationError, best_match
from ocpp.messages import get_validator
from ocpp.v16.enums import Action

from central_system.transport.errors import (
    FormationViolationError,
    OccurenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)

OCPP_VERSION = "1.6"
CALL, CALL_RESULT = 2, 3

#: Every action a charger may send to the central system (1.6 and the security whitepaper).
CHARGER_ACTIONS = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
        "LogStatusNotification",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
    }
)
#: Every action the central system may send to a charger.
CENTRAL_SYSTEM_ACTIONS = frozenset(
    {
        "CancelReservation",
        "ChangeAvailability",
        "ChangeConfiguration",
        "ClearCache",
        "ClearChargingProfile",
        "DataTransfer",
        "GetCompositeSchedule",
        "GetConfiguration",
        "GetDiagnostics",
        "GetLocalListVersion",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "ReserveNow",
        "Reset",
        "SendLocalList",
        "SetChargingProfile",
        "TriggerMessage",
        "UnlockConnector",
        "UpdateFirmware",
        "CertificateSigned",
        "DeleteCertificate",
        "ExtendedTriggerMessage",
        "GetInstalledCertificateIds",
        "GetLog",
        "InstallCertificate",
        "SignedUpdateFirmware",
    }
)
ALL_ACTIONS = frozenset(action.value for action in Action)
TRANSACTION_ACTIONS = frozenset({"StartTransaction", "StopTransaction", "MeterValues"})

# The library validates these with decimals, so that ``multipleOf: 0.1`` holds exactly.
_DECIMAL_SCHEMAS = {
    (CALL, "SetChargingProfile"),
    (CALL, "RemoteStartTransaction"),
    (CALL_RESULT, "GetCompositeSchedule"),
}

_OCCURRENCE = {"required", "minItems", "maxItems"}
_PROPERTY = {
    "enum",
    "maxLength",
    "minLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "pattern",
    "format",
    "multipleOf",
}


def preload() -> None:
    """Read every 1.6 schema now (start-up), not on the event loop later."""
    for action in ALL_ACTIONS:
        for message_type in (CALL, CALL_RESULT):
            parse_float = decimal.Decimal if (message_type, action) in _DECIMAL_SCHEMAS else float
            try:
                get_validator(message_type, action, OCPP_VERSION, parse_float=parse_float)
            except OSError:  # pragma: no cover - every 1.6 action ships both schemas
                continue


#: Payloads (as canonical JSON) that validated, per schema; bounded, oldest out first.
_VALID: dict[tuple[int, str, str], None] = {}
_VALID_LIMIT = 4096


def _errors(message_type: int, action: str, payload: dict[str, Any]) -> list[ValidationError]:
    """The schema failures of ``payload``; a payload seen valid before is not walked again.

    Much of what chargers send and most of what we answer repeats byte for byte
    (``{}``, an Authorize for the same card, a Heartbeat's answer within a
    second), and validation is a pure function of the payload.
    """
    key = (message_type, action, json.dumps(payload, sort_keys=True, default=str))
    if key in _VALID:
        return []
    errors = _validate(message_type, action, payload)
    if not errors:
        if len(_VALID) >= _VALID_LIMIT:
            del _VALID[next(iter(_VALID))]
        _VALID[key] = None
    return errors


def _validate(message_type: int, action: str, payload: dict[str, Any]) -> list[ValidationError]:
    decimals = (message_type, action) in _DECIMAL_SCHEMAS
    validator = get_validator(
        message_type,
        action,
        OCPP_VERSION,
        parse_float=decimal.Decimal if decimals else float,
    )
    if decimals:
        payload = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
    return list(validator.iter_errors(payload))


def error_for(failure: ValidationError) -> OCPPError:
    """The 1.6 CallError for one schema failure."""
    where = "/".join(str(part) for part in failure.absolute_path) or "(payload)"
    details = {"cause": failure.message, "path": where}
    if failure.validator in _OCCURRENCE:
        return OccurenceConstraintViolationError(details=details)
    if failure.validator == "type":
        return TypeConstraintViolationError(details=details)
    if failure.validator in _PROPERTY:
        return PropertyConstraintViolationError(details=details)
    return FormationViolationError(details=details)


@dataclass(frozen=True, slots=True)
class Checked:
    payload: dict[str, Any]
    quirks: list[str] = field(default_factory=list)


def check_call(action: str, payload: dict[str, Any]) -> Checked:
    """Validate a CALL from a charger; raise the 1.6 CallError when it cannot be taken."""
    errors = _errors(CALL, action, payload)
    if not errors:
        return Checked(payload)
    if action in TRANSACTION_ACTIONS:
        normalised, quirks = _normalise(payload)
        remaining = _errors(CALL, action, normalised)
        tolerated = [e for e in remaining if _tolerated(e)]
        if len(tolerated) == len(remaining):
            quirks += [
                f"{'/'.join(map(str, e.absolute_path))}: {e.instance!r} kept" for e in tolerated
            ]
            return Checked(normalised, quirks)
        errors = [e for e in remaining if not _tolerated(e)]
    raise error_for(_most_relevant(errors))


def check_outgoing(action: str, payload: dict[str, Any]) -> OCPPError | None:
    """Why a CALL we are about to send breaks the 1.6 schema, or ``None``."""
    errors = _errors(CALL, action, payload)
    return error_for(_most_relevant(errors)) if errors else None


def check_reply(action: str, payload: dict[str, Any]) -> OCPPError | None:
    """Why a CALLRESULT (ours or a charger's) breaks the 1.6 schema, or ``None``."""
    errors = _errors(CALL_RESULT, action, payload)
    return error_for(_most_relevant(errors)) if errors else None


def _most_relevant(errors: list[ValidationError]) -> ValidationError:
    chosen: ValidationError | None = best_match(errors)
    assert chosen is not None
    return chosen


def _as_list(container: dict[str, Any], key: str, where: str, quirks: list[str]) -> None:
    if isinstance(container.get(key), dict):
        container[key] = [container[key]]
        quirks.append(f"{where}{key}: object wrapped in a list")


def _normalise(payload: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    fixed = copy.deepcopy(payload)
    quirks: list[str] = []
    for key in ("meterValue", "transactionData"):
        _as_list(fixed, key, "", quirks)
        values = fixed.get(key)
        if isinstance(values, list):
            for index, value in enumerate(values):
                if isinstance(value, dict):
                    _as_list(value, "sampledValue", f"{key}/{index}/", quirks)
    return fixed, quirks


def _tolerated(error: ValidationError) -> bool:
    """An enum outside 1.6 inside a sampled value: kept as sent."""
    return error.validator == "enum" and "sampledValue" in error.absolute_path
